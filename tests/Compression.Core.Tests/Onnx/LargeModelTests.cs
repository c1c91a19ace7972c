using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;
using Google.Protobuf;

namespace Compression.Core.Tests.Onnx;

/// <summary>
/// A model past protobuf's 2 GB limit saves (its weights go to external data automatically) and reloads equal.
/// Long: it writes and reads 2.2 GB, so it runs only with COMPRESSION_LONG_TESTS=1.
/// </summary>
[Trait("Category", "Long")]
public sealed class LargeModelTests
{
    [SkippableFact]
    public void Model_past_2_GB_saves_with_external_data_and_reloads_equal()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("COMPRESSION_LONG_TESTS") == "1", "Long test: set COMPRESSION_LONG_TESTS=1 to run it.");
        var folder = TestAssets.TempDirectory();
        try
        {
            const int tensors = 9;
            const int elements = 64 * 1024 * 1024; // 256 MB of float each, 2.25 GB in all
            var graph = new GraphProto { Name = "big" };
            graph.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new() { ElemType = 1 } } });
            var previous = "x";
            for (var t = 0; t < tensors; t++)
            {
                var bytes = new byte[elements * 4];
                new Random(t).NextBytes(bytes);
                var weight = new TensorProto { Name = $"w{t}", DataType = (int)ElementType.Float, RawData = UnsafeByteOperations.UnsafeWrap(bytes) };
                weight.Dims.Add(elements);
                graph.Initializer.Add(weight);
                var node = new NodeProto { OpType = "Add", Name = $"add{t}" };
                node.Input.AddRange([previous, weight.Name]);
                node.Output.Add(previous = $"y{t}");
                graph.Node.Add(node);
            }

            graph.Output.Add(new ValueInfoProto { Name = previous, Type = new TypeProto { TensorType = new() { ElemType = 1 } } });
            var proto = new ModelProto { IrVersion = 8, Graph = graph };
            proto.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
            var model = new OnnxModel(proto);
            Assert.True(ModelWriter.EstimateSize(proto) > ModelLoader.ProtobufLimit);

            var path = Path.Combine(folder, "big.onnx");
            var written = ModelWriter.Save(model, path);
            Assert.Equal(2, written.Count);
            Assert.True(new FileInfo(path).Length < 1 << 20);

            var reloaded = ModelLoader.Load(path);
            Assert.Equal(["big.onnx.data"], reloaded.ExternalDataFiles);
            Assert.Equal(proto, reloaded.Proto);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
