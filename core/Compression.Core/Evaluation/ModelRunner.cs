using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Compression.Core.Evaluation;

/// <summary>How ONNX Runtime runs a model for evaluation.</summary>
public sealed record RunnerOptions
{
    /// <summary>Intra-op threads; 1 by default, the figure users compare across machines.</summary>
    public int Threads { get; init; } = 1;

    public GraphOptimizationLevel Optimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Extra values to return besides the graph outputs (intermediate tensors made outputs).</summary>
    public IReadOnlyList<string> ExtraOutputs { get; init; } = [];

    /// <summary>
    /// ONNX Runtime's CPU memory arena: fast for runs of one shape, but it keeps every block it ever grew to, so a
    /// session whose outputs change size from batch to batch (captured activations of padded text) only grows.
    /// </summary>
    public bool MemoryArena { get; init; } = true;
}

/// <summary>An output of one run, decoded to float (class indices and integer outputs too).</summary>
public sealed record OutputValue(string Name, long[] Shape, float[] Values);

/// <summary>
/// One ONNX Runtime session over a model file. Owns the session: dispose it. Inputs come from a
/// <see cref="DataBatch"/> (arrays pinned, not copied); outputs come back as float arrays.
/// </summary>
public sealed class ModelRunner : IDisposable
{
    private readonly InferenceSession session;
    private readonly SessionOptions sessionOptions;
    private bool disposed;
    private readonly HashSet<string> inputNames;

    public ModelRunner(string modelPath, RunnerOptions? options = null)
    {
        options ??= new RunnerOptions();
        ModelPath = modelPath;
        sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = options.Optimization,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            EnableCpuMemArena = options.MemoryArena,
        };
        try
        {
            session = new InferenceSession(modelPath, sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            sessionOptions.Dispose();
            throw new CompressionException(Diagnostic.Error(ErrorCodes.RuntimeRejectedModel,
                $"ONNX Runtime cannot load the model: {FirstLine(e.Message)}", modelPath), e);
        }

        inputNames = [.. session.InputNames];
        OutputNames = [.. session.OutputNames, .. options.ExtraOutputs.Where(n => !session.OutputNames.Contains(n))];
    }

    public string ModelPath { get; }

    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Runs one batch (or, with <paramref name="paired"/>, the batch's second sentences) and returns every output.</summary>
    public IReadOnlyList<OutputValue> Run(DataBatch batch, bool paired = false)
    {
        using var outputs = RunNative(batch, paired);
        var results = new List<OutputValue>(outputs.Count);
        for (var i = 0; i < outputs.Count; i++)
        {
            results.Add(Decode(OutputNames[i], outputs[i]));
        }

        return results;
    }

    /// <summary>
    /// Runs one batch and returns ONNX Runtime's own outputs, in <see cref="OutputNames"/> order; the caller disposes
    /// them. The inputs stay alive (their managed arrays pinned) until then: an output may be the very buffer of an
    /// input (a graph input captured as an output), and reading it after the input is unpinned reads moved memory.
    /// </summary>
    internal RunOutputs RunNative(DataBatch batch, bool paired = false)
    {
        var inputs = paired ? batch.PairedInputs ?? throw new ArgumentException("The batch has no paired inputs.", nameof(batch)) : batch.Inputs;
        var names = new List<string>(inputs.Count);
        var values = new List<OrtValue>(inputs.Count);
        try
        {
            foreach (var input in inputs)
            {
                if (inputNames.Contains(input.Name))
                {
                    names.Add(input.Name);
                    values.Add(ToOrtValue(input));
                }
            }

            using var runOptions = new RunOptions();
            return new RunOutputs(session.Run(runOptions, names, values, OutputNames.ToList()), values);
        }
        catch (OnnxRuntimeException e)
        {
            RunOutputs.DisposeAll(values);
            throw new CompressionException(Diagnostic.Error(ErrorCodes.RuntimeFailed,
                $"ONNX Runtime failed to run the model on the data: {FirstLine(e.Message)}", ModelPath), e);
        }
        catch
        {
            RunOutputs.DisposeAll(values);
            throw;
        }
    }

    /// <summary>Closes the session; a second call does nothing (ONNX Runtime's own Dispose is not safe to repeat).</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        session.Dispose();
        sessionOptions.Dispose();
    }

    /// <summary>Wraps a batch tensor's array without copying it (ONNX Runtime pins managed memory).</summary>
    public static OrtValue ToOrtValue(TensorData tensor) => tensor.Values switch
    {
        float[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        long[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        int[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        double[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        byte[] a when tensor.Type == ElementType.Bool => Copied(a, tensor.Shape, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Bool),
        byte[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        sbyte[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        short[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        ushort[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        uint[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        ulong[] a => OrtValue.CreateTensorValueFromMemory(a, tensor.Shape),
        Half[] a => Copied(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()), tensor.Shape, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16),
        string[] a => OrtValue.CreateFromStringTensor(new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<string>(a, tensor.Shape.Select(d => (int)d).ToArray())),
        _ => throw new ArgumentException($"Tensor '{tensor.Name}' holds {tensor.Values.GetType().Name}, which cannot be fed to ONNX Runtime."),
    };

    /// <summary>Element types without a managed counterpart ORT accepts (bool, float16) are copied into native memory.</summary>
    private static OrtValue Copied(ReadOnlySpan<byte> bytes, long[] shape, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType type)
    {
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, type, shape);
        bytes.CopyTo(value.GetTensorMutableRawData());
        return value;
    }

    internal static OutputValue Decode(string name, OrtValue value)
    {
        if (!value.IsTensor)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.RuntimeFailed, $"Output '{name}' is not a tensor; only tensor outputs can be evaluated."));
        }

        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        var type = (ElementType)(int)info.ElementDataType;
        if (type == ElementType.Float)
        {
            return new OutputValue(name, shape, value.GetTensorDataAsSpan<float>().ToArray());
        }

        if (type == ElementType.String)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.RuntimeFailed, $"Output '{name}' holds strings; only numeric outputs can be evaluated."));
        }

        var raw = value.GetTensorDataAsSpan<byte>();
        var values = new float[info.ElementCount];
        TensorCodec.DecodeToSingle(type, raw, values, name);
        return new OutputValue(name, shape, values);
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}

/// <summary>One run's outputs, owning the run's inputs too: both are released together, outputs first.</summary>
internal sealed class RunOutputs(IDisposableReadOnlyCollection<OrtValue> outputs, List<OrtValue> inputs) : IReadOnlyList<OrtValue>, IDisposable
{
    public int Count => outputs.Count;

    public OrtValue this[int index] => outputs[index];

    public IEnumerator<OrtValue> GetEnumerator() => outputs.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        outputs.Dispose();
        DisposeAll(inputs);
    }

    public static void DisposeAll(List<OrtValue> values)
    {
        foreach (var value in values)
        {
            value.Dispose();
        }
    }
}
