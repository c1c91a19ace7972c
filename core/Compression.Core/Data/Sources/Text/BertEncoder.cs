using System.Runtime.InteropServices;
using Compression.Core.Data.Sampling;
using Compression.Core.Onnx.Tensors;
using Microsoft.ML.Tokenizers;

namespace Compression.Core.Data.Sources.Text;

/// <summary>
/// Turns sentences into a transformer's standard inputs with BERT WordPiece: <c>[CLS] tokens [SEP]</c>, truncated
/// to the max length, padded to the longest sentence of the batch (or to the model's fixed sequence length).
/// Produces only the inputs the model declares among <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c>.
/// </summary>
internal sealed class BertEncoder
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string TokenTypeIds = "token_type_ids";

    private readonly BertTokenizer tokenizer;
    private readonly int maxLength;
    private readonly IReadOnlyList<InputSpec> inputs;
    private readonly int? fixedLength;
    private readonly string path;

    public BertEncoder(string vocabPath, bool lowerCase, int maxLength, ModelSignature model, string path)
    {
        this.path = path;
        foreach (var input in model.Inputs)
        {
            if (input.Name is not (InputIds or AttentionMask or TokenTypeIds) || input.Dims.Length != 2)
            {
                throw DataErrors.Names(path, $"Text data feeds inputs {InputIds}, {AttentionMask} and {TokenTypeIds} of shape [batch, sequence]; " +
                    $"the model also has {input}.");
            }
        }

        if (model.Input(InputIds) is null)
        {
            throw DataErrors.Names(path, $"Text data needs a model input named {InputIds}; the model has {string.Join(", ", model.Inputs)}.");
        }

        inputs = model.Inputs;
        fixedLength = model.Input(InputIds)!.Dims[1] > 0 ? checked((int)model.Input(InputIds)!.Dims[1]) : null;
        this.maxLength = fixedLength is { } length ? Math.Min(length, maxLength) : maxLength;
        try
        {
            tokenizer = BertTokenizer.Create(vocabPath, new BertOptions { LowerCaseBeforeTokenization = lowerCase });
        }
        catch (Exception e) when (e is IOException or ArgumentException or FormatException or InvalidOperationException)
        {
            throw DataErrors.Corrupt(vocabPath, $"The vocab '{vocabPath}' cannot be read as a BERT vocab.txt: {e.Message}", inner: e);
        }
    }

    /// <summary>Token ids of one sentence with [CLS] and [SEP], at most the max length.</summary>
    public int[] Encode(string text)
    {
        var tokens = tokenizer.EncodeToIds(text, addSpecialTokens: false, considerPreTokenization: true, considerNormalization: true);
        var kept = Math.Min(tokens.Count, maxLength - 2);
        var ids = new int[kept + 2];
        ids[0] = tokenizer.ClassificationTokenId;
        for (var i = 0; i < kept; i++)
        {
            ids[i + 1] = tokens[i];
        }

        ids[^1] = tokenizer.SeparatorTokenId;
        return ids;
    }

    /// <summary>The model's inputs for a batch of encoded sentences.</summary>
    public IReadOnlyList<TensorData> Tensors(IReadOnlyList<int[]> sentences)
    {
        var length = fixedLength ?? 0;
        if (fixedLength is null)
        {
            foreach (var sentence in sentences)
            {
                length = Math.Max(length, sentence.Length);
            }
        }

        var ids = new long[sentences.Count * length];
        var mask = new long[ids.Length];
        ids.AsSpan().Fill(tokenizer.PaddingTokenId);
        for (var s = 0; s < sentences.Count; s++)
        {
            var row = s * length;
            for (var t = 0; t < sentences[s].Length; t++)
            {
                ids[row + t] = sentences[s][t];
                mask[row + t] = 1;
            }
        }

        var tensors = new List<TensorData>(inputs.Count);
        foreach (var input in inputs)
        {
            var values = input.Name switch
            {
                InputIds => ids,
                AttentionMask => mask,
                _ => new long[ids.Length], // one segment per sentence: every token type is 0
            };
            tensors.Add(ToDeclaredType(input, [sentences.Count, length], values));
        }

        return tensors;
    }

    private TensorData ToDeclaredType(InputSpec input, long[] shape, long[] values)
    {
        if (input.Type == ElementType.Int64)
        {
            return new TensorData(input.Name, input.Type, shape, values);
        }

        var converted = ElementConversion.Allocate(input.Type, values.Length, input.Name, path);
        ElementConversion.WriteRaw(MemoryMarshal.AsBytes(values.AsSpan()), ElementType.Int64, values.Length, converted, 0);
        return new TensorData(input.Name, input.Type, shape, converted);
    }
}
