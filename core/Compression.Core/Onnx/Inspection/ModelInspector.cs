using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;

namespace Compression.Core.Onnx.Inspection;

/// <summary>Builds a <see cref="ModelInfo"/>; external data is checked but not read.</summary>
public static class ModelInspector
{
    public static ModelInfo Inspect(string path) => Inspect(ModelLoader.Load(path, LoadOptions.MetadataOnly));

    public static ModelInfo Inspect(OnnxModel model)
    {
        var proto = model.Proto;
        var opCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var nodeCount = 0;
        foreach (var node in ModelWalker.Graphs(proto).SelectMany(g => g.Node))
        {
            nodeCount++;
            var domain = OnnxModel.NormalizeDomain(node.Domain);
            var key = domain.Length == 0 ? node.OpType : $"{domain}.{node.OpType}";
            opCounts[key] = opCounts.GetValueOrDefault(key) + 1;
        }

        var groups = new Dictionary<string, (long Count, long Bytes)>(StringComparer.Ordinal);
        foreach (var weight in WeightTensors(proto))
        {
            var type = ElementTypes.OnnxName(weight.DataType);
            var count = TensorCodec.ElementCount(weight);
            var bytes = TensorCodec.StoredByteLength(weight);
            if (bytes < 0)
            {
                bytes = weight.StringData.Sum(s => (long)s.Length);
            }

            var (c, b) = groups.GetValueOrDefault(type);
            groups[type] = (c + count, b + bytes);
        }

        var byType = groups
            .Select(g => new ParameterGroup(g.Key, g.Value.Count, g.Value.Bytes))
            .OrderByDescending(g => g.Bytes).ThenBy(g => g.ElementType, StringComparer.Ordinal)
            .ToList();

        return new ModelInfo
        {
            Path = model.Path ?? "",
            Name = model.Path is null ? proto.Graph.Name : System.IO.Path.GetFileName(model.Path),
            SizeBytes = model.SizeOnDisk,
            IrVersion = proto.IrVersion,
            Opsets = proto.OpsetImport.Select(o => new OpsetInfo(OnnxModel.NormalizeDomain(o.Domain), o.Version)).ToList(),
            Producer = $"{proto.ProducerName} {proto.ProducerVersion}".Trim(),
            Inputs = GraphInputs(proto.Graph).Select(Describe).ToList(),
            Outputs = proto.Graph.Output.Select(Describe).ToList(),
            NodeCount = nodeCount,
            OpCounts = opCounts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
                .ToDictionary(p => p.Key, p => p.Value),
            ParameterCount = byType.Sum(g => g.Count),
            ParameterBytes = byType.Sum(g => g.Bytes),
            ParametersByType = byType,
            Macs = MacCounter.Count(proto),
            ExternalDataFiles = model.ExternalDataFiles,
        };
    }

    /// <summary>
    /// The fraction of zeros in the model's floating-point weights of rank 2 and up (matrices and kernels: what pruning
    /// zeroes), dense initializers, sparse initializers (counted at their dense size) and Constant nodes alike; 0 when
    /// there are none. Reads the weight values.
    /// </summary>
    public static double WeightSparsity(OnnxModel model)
    {
        long zeros = 0, total = 0;
        void Count(TensorProto values, int rank, long elements)
        {
            if (rank < 2 || !ElementTypes.IsFloatingPoint(TensorCodec.ElementTypeOf(values)))
            {
                return;
            }

            // A sparse initializer stores only some values: the ones it leaves out are zeros.
            var decoded = TensorCodec.ToSingle(values);
            zeros += elements - decoded.Length;
            foreach (var value in decoded)
            {
                zeros += value == 0 ? 1 : 0;
            }

            total += elements;
        }

        foreach (var graph in ModelWalker.Graphs(model.Proto))
        {
            foreach (var tensor in graph.Initializer)
            {
                Count(tensor, tensor.Dims.Count, TensorCodec.ElementCount(tensor));
            }

            foreach (var sparse in graph.SparseInitializer.Where(s => s.Values is not null))
            {
                Count(sparse.Values, sparse.Dims.Count, sparse.Dims.Aggregate(1L, (a, b) => a * b));
            }

            foreach (var node in graph.Node.Where(n => n.OpType == "Constant" && OnnxModel.NormalizeDomain(n.Domain).Length == 0))
            {
                foreach (var tensor in ConstantValues(node))
                {
                    Count(tensor, tensor.Dims.Count, TensorCodec.ElementCount(tensor));
                }
            }
        }

        return total == 0 ? 0 : (double)zeros / total;
    }

    /// <summary>
    /// The tensors that are weights: initializers (dense and sparse) and the values Constant nodes hold, in
    /// every graph. Tensors in other attributes (e.g. ConstantOfShape's fill value) are not weights.
    /// </summary>
    public static IEnumerable<TensorProto> WeightTensors(ModelProto proto)
    {
        foreach (var graph in ModelWalker.Graphs(proto))
        {
            foreach (var tensor in graph.Initializer)
            {
                yield return tensor;
            }

            foreach (var sparse in graph.SparseInitializer)
            {
                if (sparse.Values is not null)
                {
                    yield return sparse.Values;
                }
            }

            foreach (var node in graph.Node)
            {
                if (node.OpType == "Constant" && OnnxModel.NormalizeDomain(node.Domain).Length == 0)
                {
                    foreach (var tensor in ConstantValues(node))
                    {
                        yield return tensor;
                    }
                }
            }
        }
    }

    /// <summary>A Constant node's value as a tensor, whichever attribute holds it.</summary>
    public static IEnumerable<TensorProto> ConstantValues(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            switch (attribute.Name)
            {
                case "value" when attribute.T is not null:
                    yield return attribute.T;
                    break;
                case "sparse_value" when attribute.SparseTensor?.Values is not null:
                    yield return attribute.SparseTensor.Values;
                    break;
                case "value_float":
                    yield return TensorCodec.FromSingle("", [], [attribute.F], ElementType.Float);
                    break;
                case "value_floats":
                    yield return TensorCodec.FromSingle("", [attribute.Floats.Count], attribute.Floats.ToArray(), ElementType.Float);
                    break;
                case "value_int":
                    yield return TensorCodec.FromInt64("", [], [attribute.I]);
                    break;
                case "value_ints":
                    yield return TensorCodec.FromInt64("", [attribute.Ints.Count], attribute.Ints.ToArray());
                    break;
                case "value_string":
                    yield return TensorCodec.FromStrings("", [], [attribute.S.ToStringUtf8()]);
                    break;
                case "value_strings":
                    yield return TensorCodec.FromStrings("", [attribute.Strings.Count], attribute.Strings.Select(s => s.ToStringUtf8()));
                    break;
            }
        }
    }

    /// <summary>Graph inputs that are real inputs: before IR 4, initializers were listed among the inputs too.</summary>
    private static IEnumerable<ValueInfoProto> GraphInputs(GraphProto graph)
    {
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return graph.Input.Where(i => !initializers.Contains(i.Name));
    }

    public static ValueInfo Describe(ValueInfoProto value) => new(value.Name, TypeName(value.Type), ShapeOf(value.Type));

    private static string TypeName(TypeProto? type) => type?.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => ElementTypes.OnnxName(type.TensorType.ElemType),
        TypeProto.ValueOneofCase.SparseTensorType => $"sparse_tensor({ElementTypes.OnnxName(type.SparseTensorType.ElemType)})",
        TypeProto.ValueOneofCase.SequenceType => $"seq({TypeName(type.SequenceType.ElemType)})",
        TypeProto.ValueOneofCase.MapType => $"map({ElementTypes.OnnxName(type.MapType.KeyType)},{TypeName(type.MapType.ValueType)})",
        TypeProto.ValueOneofCase.OptionalType => $"optional({TypeName(type.OptionalType.ElemType)})",
        TypeProto.ValueOneofCase.OpaqueType => $"opaque({type.OpaqueType.Domain}.{type.OpaqueType.Name})",
        _ => "unknown",
    };

    private static IReadOnlyList<string> ShapeOf(TypeProto? type)
    {
        var shape = type?.ValueCase switch
        {
            TypeProto.ValueOneofCase.TensorType => type.TensorType.Shape,
            TypeProto.ValueOneofCase.SparseTensorType => type.SparseTensorType.Shape,
            _ => null,
        };
        if (shape is null)
        {
            return [];
        }

        return shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
            _ => "?",
        }).ToList();
    }
}
