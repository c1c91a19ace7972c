using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Layers;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Passes.Graph;

namespace Compression.Core.Quantization.Recurrent;

/// <summary>
/// The LSTM, GRU and RNN nodes of the main graph, for every int8 mode: an op type the mode has an integer kernel for
/// (dynamic and static mode: LSTM as DynamicQuantizeLSTM, <see cref="IntegerLstm"/>) is rewritten by the mode's form; the others keep their float op and
/// get 8-bit storage of W and R (<see cref="RecurrentWeightStorage"/>), which shrinks the file only. B stays float:
/// it is small and added in float either way. Ops left alone are reported with the reason; ops in subgraphs are left
/// alone.
/// </summary>
internal sealed class RecurrentQuantizer
{
    /// <summary>The form name in the statistics for ops whose weights are only stored in 8 bits.</summary>
    public const string StorageForm = "8-bit storage, float compute";

    private readonly Dictionary<string, int> forms = new(StringComparer.Ordinal);
    private readonly SortedSet<string> storedOnly = new(StringComparer.Ordinal);
    private int found;
    private long bytesBefore;
    private long bytesAfter;

    private RecurrentQuantizer()
    {
    }

    /// <summary>LSTM, GRU and RNN nodes rewritten, in any form.</summary>
    public int Quantized => forms.Values.Sum();

    /// <summary>
    /// Quantizes the recurrent ops of a model's main graph in place. <paramref name="integerForms"/> maps an op type to
    /// the name of the mode's integer form and its rewrite, which returns the bytes the quantized weights take and
    /// edits this same <paramref name="graph"/> instance: each instance keeps its own indexes of the nodes.
    /// </summary>
    public static RecurrentQuantizer Quantize(OnnxGraph graph, QuantizeOptions options, NodeExclusions exclusions, PassContext context,
        IReadOnlyDictionary<string, (string Form, Func<RecurrentWeights, long> Rewrite)>? integerForms = null)
    {
        var model = graph.Model ?? throw new ArgumentException("The graph is not a model's main graph.", nameof(graph));
        var result = new RecurrentQuantizer();
        var storage = new RecurrentWeightStorage(graph, options, GraphScopes.AllValueNames(model));
        var leftAlone = new List<(string Node, string Reason)>();
        foreach (var node in graph.Proto.Node.ToList())
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (!RecurrentOps.IsRecurrent(node))
            {
                continue;
            }

            result.found++;
            if (exclusions.Excludes(node))
            {
                continue;
            }

            if (RecurrentOps.Find(graph, node, out var reason) is not { } weights)
            {
                leftAlone.Add((OnnxGraph.Describe(node), reason));
                continue;
            }

            result.bytesBefore += weights.FloatBytes;
            if (integerForms is not null && integerForms.TryGetValue(node.OpType, out var integer))
            {
                result.bytesAfter += integer.Rewrite(weights);
                result.Count($"{node.OpType}: {integer.Form}");
            }
            else
            {
                result.bytesAfter += storage.Store(weights);
                result.Count($"{node.OpType}: {StorageForm}");
                result.storedOnly.Add(node.OpType);
            }
        }

        storage.Finish();
        graph.SortTopologically();
        if (storage.UsesMicrosoftDomain && model.OpsetVersion("com.microsoft") is null)
        {
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        }

        result.Report(model, leftAlone, context);
        return result;
    }

    /// <summary>The recurrent figures of a mode's result; null for a model without recurrent ops.</summary>
    public RecurrentFigures? Figures => found == 0 ? null
        : new RecurrentFigures(found, Quantized, forms, bytesBefore, bytesAfter) { Storage = storedOnly.Count > 0 ? StorageNote : null };

    private string StorageNote =>
        $"{string.Join(", ", storedOnly)} weights are stored in 8 bits and dequantized when the model runs: the file shrinks, the compute stays float (this mode has no integer kernel for them in ONNX Runtime).";

    private void Count(string form) => forms[form] = forms.GetValueOrDefault(form) + 1;

    /// <summary>One warning per reason naming the ops left in float, one for ops in subgraphs, and a verbose summary.</summary>
    private void Report(OnnxModel model, List<(string Node, string Reason)> leftAlone, PassContext context)
    {
        foreach (var group in leftAlone.GroupBy(l => l.Reason))
        {
            var names = group.Select(l => $"'{l.Node}").ToList();
            var shown = string.Join(", ", names.Take(5)) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");
            context.Log.Report(Diagnostic.Warning(ErrorCodes.NodeLeftInFloat,
                $"{names.Count} recurrent op(s) stay in float with float weights ({group.Key}): {shown}.", model.Path));
        }

        var inSubgraphs = 0;
        foreach (var node in model.Proto.Graph.Node)
        {
            foreach (var subgraph in model.MainGraph.Subgraphs(node))
            {
                inSubgraphs += subgraph.AllNodes().Count(n => RecurrentOps.IsRecurrent(n.Node));
            }
        }

        if (inSubgraphs > 0)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.NodeLeftInFloat,
                $"{inSubgraphs} recurrent op(s) inside subgraphs (If, Loop, Scan bodies) stay in float with float weights: only the main graph's are quantized.", model.Path));
        }

        if (Quantized > 0)
        {
            var listed = string.Join("; ", forms.Select(f => $"{f.Key} x{f.Value}"));
            context.Log.Verbose(string.Create(CultureInfo.InvariantCulture,
                $"quantize: recurrent ops {listed}; their weights {TensorCodec.FormatBytes(bytesBefore)} -> {TensorCodec.FormatBytes(bytesAfter)}.")
                + (storedOnly.Count > 0 ? " " + StorageNote : ""));
        }
    }
}
