using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Compression.Core.Evaluation;

/// <summary>Moves tensors between ONNX's <see cref="TensorProto"/> and ONNX Runtime's <see cref="OrtValue"/>.</summary>
public static class OrtTensors
{
    /// <summary>Creates an OrtValue holding a copy of the tensor's values. The caller disposes it.</summary>
    public static OrtValue ToOrtValue(TensorProto tensor)
    {
        var type = TensorCodec.ElementTypeOf(tensor);
        var shape = tensor.Dims.ToArray();
        if (type == ElementType.String)
        {
            var strings = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, shape);
            var values = TensorCodec.ToStrings(tensor);
            for (var i = 0; i < values.Length; i++)
            {
                strings.StringTensorSetElementAt(values[i].AsSpan(), i);
            }

            return strings;
        }

        var raw = TensorCodec.GetRawBytes(tensor);
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (Microsoft.ML.OnnxRuntime.Tensors.TensorElementType)(int)type, shape);
        raw.CopyTo(value.GetTensorMutableRawData());
        return value;
    }

    /// <summary>
    /// A byte-exact fingerprint of an output: element type, shape and raw bytes for tensors (UTF-8 values for
    /// strings), recursively for sequences. Two outputs are bit-for-bit equal when their fingerprints are.
    /// </summary>
    public static byte[] Fingerprint(OrtValue value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            Write(value, writer);
        }

        return buffer.ToArray();
    }

    private static void Write(OrtValue value, BinaryWriter writer)
    {
        writer.Write((int)value.OnnxType);
        switch (value.OnnxType)
        {
            case OnnxValueType.ONNX_TYPE_TENSOR:
                var info = value.GetTensorTypeAndShape();
                writer.Write((int)info.ElementDataType);
                writer.Write(info.Shape.Length);
                foreach (var dim in info.Shape)
                {
                    writer.Write(dim);
                }

                if (info.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.String)
                {
                    foreach (var s in value.GetStringTensorAsArray())
                    {
                        writer.Write(s);
                    }
                }
                else
                {
                    writer.Write(value.GetTensorMutableRawData());
                }

                break;
            case OnnxValueType.ONNX_TYPE_SEQUENCE:
                var count = value.GetValueCount();
                writer.Write(count);
                for (var i = 0; i < count; i++)
                {
                    using var item = value.GetValue(i, OrtAllocator.DefaultInstance);
                    Write(item, writer);
                }

                break;
            case OnnxValueType.ONNX_TYPE_OPTIONAL:
                // ONNX Runtime hands an optional as its contained value; an absent one has no contents to compare.
                break;
            default:
                throw new NotSupportedException($"Outputs of kind {value.OnnxType} cannot be compared.");
        }
    }
}
