using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

// Loads the model compressed at build time and prints how similar two sentences are.
var folder = Path.Combine(AppContext.BaseDirectory, "models");
var first = args.Length > 0 ? args[0] : "A man is playing a guitar.";
var second = args.Length > 1 ? args[1] : "Someone plays an instrument.";

using var session = new InferenceSession(Path.Combine(folder, "all-MiniLM-L6-v2.onnx"));
var tokenizer = BertTokenizer.Create(Path.Combine(folder, "vocab.txt"));
var a = Embed(first);
var b = Embed(second);
Console.WriteLine($"\"{first}\" vs \"{second}\": cosine similarity {System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b):0.000}");
Console.WriteLine($"model: {new FileInfo(Path.Combine(folder, "all-MiniLM-L6-v2.onnx")).Length / 1e6:0.0} MB");

float[] Embed(string text)
{
    var ids = tokenizer.EncodeToIds(text).Select(i => (long)i).ToArray();
    var shape = new long[] { 1, ids.Length };
    var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
    using var inputIds = OrtValue.CreateTensorValueFromMemory(ids, shape);
    using var attention = OrtValue.CreateTensorValueFromMemory(mask, shape);
    using var types = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
    using var outputs = session.Run(new RunOptions(), ["input_ids", "attention_mask", "token_type_ids"], [inputIds, attention, types], ["last_hidden_state"]);
    var hidden = outputs[0].GetTensorDataAsSpan<float>();
    var width = hidden.Length / ids.Length;
    var pooled = new float[width];
    for (var t = 0; t < ids.Length; t++)
    {
        System.Numerics.Tensors.TensorPrimitives.Add(pooled, hidden.Slice(t * width, width), pooled);
    }

    System.Numerics.Tensors.TensorPrimitives.Divide(pooled, ids.Length, pooled);
    return pooled;
}
