using Compression.Core.Onnx;
using Compression.Core.Onnx.Protobuf;
using Google.Protobuf;

namespace Compression.Core.Tests.Support;

public static class ModelAssert
{
    /// <summary>Asserts two models are equal field by field, naming the first differing field when not.</summary>
    public static void Equal(ModelProto expected, ModelProto actual)
    {
        if (expected.Equals(actual))
        {
            return;
        }

        Assert.Fail($"Models differ: {FirstDifference(expected, actual, "model")}");
    }

    private static string FirstDifference(IMessage a, IMessage b, string path)
    {
        foreach (var field in a.Descriptor.Fields.InFieldNumberOrder())
        {
            var va = field.Accessor.GetValue(a);
            var vb = field.Accessor.GetValue(b);
            if (field.IsRepeated)
            {
                var la = ((System.Collections.IList)va).Cast<object>().ToList();
                var lb = ((System.Collections.IList)vb).Cast<object>().ToList();
                if (la.Count != lb.Count)
                {
                    return $"{path}.{field.Name} has {la.Count} vs {lb.Count} items";
                }

                for (var i = 0; i < la.Count; i++)
                {
                    if (!Equals(la[i], lb[i]))
                    {
                        return la[i] is IMessage ma ? FirstDifference(ma, (IMessage)lb[i], $"{path}.{field.Name}[{i}]") : $"{path}.{field.Name}[{i}]";
                    }
                }
            }
            else if (!Equals(va, vb))
            {
                return va is IMessage ma && vb is IMessage mb ? FirstDifference(ma, mb, $"{path}.{field.Name}") : $"{path}.{field.Name}: {va} vs {vb}";
            }
        }

        return $"{path} (presence or unknown fields)";
    }

    /// <summary>Round trips through a file: save, reload, and return the reloaded model.</summary>
    public static OnnxModel SaveAndReload(OnnxModel model, string directory, SaveOptions? options = null)
    {
        var path = Path.Combine(directory, "roundtrip.onnx");
        ModelWriter.Save(model, path, options ?? new SaveOptions { Overwrite = true });
        return ModelLoader.Load(path);
    }
}
