using System.Globalization;
using Compression.Core.Data.Sampling;
using Compression.Core.Onnx.Protobuf;
using Compression.Core.Onnx.Tensors;
using Google.Protobuf;

namespace Compression.Core.Data.Sources.OnnxTestData;

/// <summary>
/// ONNX's test-data layout: <c>test_data_set_N/input_K.pb</c>, each file a serialized TensorProto. Each data set
/// is one batch as stored (the requested batch size does not apply); skip, take and shuffle pick data sets.
/// Tensors match model inputs by their names when every input is named, otherwise by K. <c>output_K.pb</c>
/// files are expected outputs, not labels, and are not read.
/// </summary>
public sealed class OnnxTestDataSource : IDataSource
{
    private const string SetPrefix = "test_data_set_";
    private const string InputPrefix = "input_";

    private readonly string path;
    private readonly SampleSelection selection;

    public OnnxTestDataSource(string path, SampleSelection selection, string? name = null)
    {
        if (!Directory.Exists(path))
        {
            throw DataErrors.Missing(path, "Test data folder");
        }

        this.path = path;
        this.selection = selection;
        Name = name ?? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path));
    }

    public string Name { get; }

    public bool IsSynthetic => false;

    public long? Count => selection.Count(DataSets().Count);

    public IEnumerable<DataBatch> ReadBatches(ModelSignature model, int batchSize, CancellationToken cancellationToken = default)
    {
        var sets = DataSets();
        selection.RequireSamples(sets.Count, path);
        return Read(model, sets, cancellationToken);
    }

    private IEnumerable<DataBatch> Read(ModelSignature model, List<string> sets, CancellationToken cancellationToken)
    {
        foreach (var index in selection.Indices(sets.Count))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tensors = InputFiles(sets[index]).Select(file => (File: file, Tensor: Parse(file))).ToList();
            var matched = Match(model, tensors, sets[index]);
            var inputs = model.Inputs.Select((input, k) => Decode(input, matched[k].Tensor, matched[k].File)).ToList();
            var count = inputs[0].Shape.Length == 0 ? 1 : checked((int)Math.Max(1, inputs[0].Shape[0]));
            yield return new DataBatch(count, inputs);
        }
    }

    /// <summary>The data set folders, by N; the path itself when it is one.</summary>
    private List<string> DataSets()
    {
        if (System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path)).StartsWith(SetPrefix, StringComparison.Ordinal))
        {
            return [path];
        }

        return Directory.EnumerateDirectories(path, SetPrefix + "*").OrderBy(d => Number(d, SetPrefix)).ToList();
    }

    private static List<string> InputFiles(string set) =>
        Directory.EnumerateFiles(set, InputPrefix + "*.pb").OrderBy(f => Number(f, InputPrefix)).ToList();

    private static long Number(string path, string prefix) =>
        long.TryParse(System.IO.Path.GetFileNameWithoutExtension(path).AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : long.MaxValue;

    private static TensorProto Parse(string file)
    {
        try
        {
            return TensorProto.Parser.ParseFrom(File.ReadAllBytes(file));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw DataErrors.Corrupt(file, $"'{file}' is not a serialized ONNX TensorProto: {e.Message}", inner: e);
        }
    }

    private static List<(string File, TensorProto Tensor)> Match(ModelSignature model, List<(string File, TensorProto Tensor)> tensors, string set)
    {
        var byName = model.Inputs.Select(input => tensors.FindIndex(t => t.Tensor.Name == input.Name)).ToList();
        if (byName.TrueForAll(i => i >= 0))
        {
            return byName.Select(i => tensors[i]).ToList();
        }

        if (tensors.Count == model.Inputs.Count)
        {
            return tensors;
        }

        throw DataErrors.Names(set, $"'{set}' holds {tensors.Count} input_K.pb tensors ({string.Join(", ", tensors.Select(t => t.Tensor.Name))}) " +
            $"that match the model's inputs ({string.Join(", ", model.Inputs.Select(i => i.Name))}) neither by name nor by count.");
    }

    /// <summary>The tensor's values in the array type of the model input's element type.</summary>
    private static TensorData Decode(InputSpec input, TensorProto tensor, string file)
    {
        var dims = tensor.Dims.ToArray();
        var fits = dims.Length == input.Dims.Length;
        for (var i = 0; fits && i < dims.Length; i++)
        {
            fits = input.Dims[i] < 0 || input.Dims[i] == dims[i];
        }

        if (!fits)
        {
            throw DataErrors.Shape(file, $"'{file}' holds [{string.Join(",", dims)}], which does not fit the model input {input}.");
        }

        var type = TensorCodec.ElementTypeOf(tensor);
        if (input.Type == ElementType.String && type == ElementType.String)
        {
            return new TensorData(input.Name, input.Type, dims, TensorCodec.ToStrings(tensor));
        }

        var problem = TensorCodec.CheckDataSize(tensor, file);
        if (problem is not null)
        {
            throw DataErrors.Corrupt(file, problem.Message);
        }

        var count = checked((int)TensorCodec.ElementCount(tensor));
        var values = ElementConversion.Allocate(input.Type, count, input.Name, file);
        if (TensorData.ClrType(type) is null || type == ElementType.String)
        {
            throw DataErrors.Unsupported(file, $"'{file}' holds a {ElementTypes.OnnxName(type)} tensor; the model input {input} cannot take it.");
        }

        ElementConversion.WriteRaw(TensorCodec.GetRawBytes(tensor), type, count, values, 0);
        return new TensorData(input.Name, input.Type, dims, values);
    }
}
