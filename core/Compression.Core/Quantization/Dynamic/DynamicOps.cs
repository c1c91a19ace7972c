using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Quantization.Recurrent;

namespace Compression.Core.Quantization.Dynamic;

/// <summary>
/// The per-op-type table of the dynamic quantizer (one entry per op type of the standard domain). The default, for
/// every other op, is float without a report. LSTM, GRU and RNN are quantized after the table's ops by
/// <see cref="RecurrentQuantizer"/>, which every int8 mode shares; <see cref="RecurrentForms"/> gives it this mode's
/// integer kernels.
/// </summary>
internal static class DynamicOps
{
    private static readonly Dictionary<string, IDynamicOpRewrite> Rewrites = new(StringComparer.Ordinal)
    {
        ["MatMul"] = new MatMulRewrite(),
        ["Gemm"] = new GemmRewrite(),
        ["Gather"] = new EmbeddingRewrite(),
        // ONNX Runtime's ConvInteger has no fast CPU kernel: about 9x slower than float Conv at batch 1, one thread, in
        // the reference measurements of shared/README.md.
        ["Conv"] = new KeptFloat("ConvInteger is slower than float Conv in ONNX Runtime on CPU"),
    };

    /// <summary>The op types whose weights the table quantizes, in table order.</summary>
    public static IReadOnlyList<string> WeightedOpTypes { get; } = [.. Rewrites.Where(r => r.Value.WeightInput is not null).Select(r => r.Key)];

    /// <summary>The entry for a node, or null (the default) when its op type and domain have none.</summary>
    public static IDynamicOpRewrite? Find(NodeProto node) =>
        GraphScopes.IsStandard(node) && Rewrites.TryGetValue(node.OpType, out var rewrite) ? rewrite : null;

    /// <summary>The recurrent op types with an integer kernel, and their rewrite; GRU and RNN have none and get 8-bit storage.</summary>
    public static IReadOnlyDictionary<string, (string Form, Func<RecurrentWeights, long> Rewrite)> RecurrentForms(DynamicRewriter rewriter) =>
        new Dictionary<string, (string, Func<RecurrentWeights, long>)>(StringComparer.Ordinal)
        {
            ["LSTM"] = (IntegerLstm.Form, rewriter.QuantizeLstm),
        };
}
