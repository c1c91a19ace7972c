using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Data;

/// <summary>A model input as data sources see it: name, element type, and dims (-1 where symbolic or unknown).</summary>
public sealed record InputSpec(string Name, ElementType Type, long[] Dims, string?[] Symbols)
{
    /// <summary>The fixed batch size the model declares (its first dim), or null when the batch is free.</summary>
    public long? FixedBatch => Dims.Length > 0 && Dims[0] > 0 ? Dims[0] : null;

    public override string ToString() =>
        $"{Name}: {ElementTypes.OnnxName(Type)}[{string.Join(",", Dims.Select((d, i) => d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : Symbols[i] ?? "?"))}]";
}

/// <summary>The inputs and outputs a model declares: what data sources must produce and evaluation reads.</summary>
public sealed record ModelSignature(IReadOnlyList<InputSpec> Inputs, IReadOnlyList<InputSpec> Outputs)
{
    public static ModelSignature Of(OnnxModel model)
    {
        var graph = model.Proto.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return new ModelSignature(
            graph.Input.Where(i => !initializers.Contains(i.Name)).Select(Spec).ToList(),
            graph.Output.Select(Spec).ToList());
    }

    public InputSpec? Input(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    private static InputSpec Spec(ValueInfoProto value)
    {
        var tensor = value.Type?.TensorType;
        var dims = tensor?.Shape?.Dim ?? [];
        return new InputSpec(
            value.Name,
            tensor is not null && ElementTypes.IsDefined(tensor.ElemType) ? (ElementType)tensor.ElemType : ElementType.Undefined,
            dims.Select(d => d.HasDimValue && d.DimValue > 0 ? d.DimValue : -1L).ToArray(),
            dims.Select(d => d.HasDimParam ? d.DimParam : null).ToArray());
    }
}
