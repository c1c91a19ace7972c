using System.Text;
using System.Text.RegularExpressions;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Graphs;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Recipes;

namespace Compression.Fuzz;

/// <summary>
/// A fuzz target: one input in, and either it is handled or it fails with a <see cref="CompressionException"/>
/// whose diagnostics carry CMP codes. Anything else escapes as the finding.
/// </summary>
/// <param name="Seeds">Where the seeds are, relative to the repository: folder and file pattern. Inputs that once
/// broke a target (tests/fixtures/fuzz) are seeds too, so afl starts from what went wrong before.</param>
public sealed record FuzzTarget(string Name, Action<byte[]> Execute, IReadOnlyList<(string Folder, string Pattern)> Seeds)
{
    /// <summary>bytes, as a model file: what Get-ModelInfo, a pass and a save do with it.</summary>
    public static FuzzTarget Model { get; } = new("model", FuzzTargets.Model,
        [("tests/Compression.Fuzz/seeds/model", "*.onnx"), ("tests/fixtures/corpus", "*.onnx"), ("tests/fixtures/fuzz/model", "*")]);

    /// <summary>bytes, as the UTF-8 text of a recipe file.</summary>
    public static FuzzTarget Recipe { get; } = new("recipe", bytes => FuzzTargets.Recipe(Encoding.UTF8.GetString(bytes)),
        [("examples/recipes", "*.yaml"), ("tests/Compression.Fuzz/seeds/recipe", "*.yaml"), ("tests/fixtures/fuzz/recipe", "*")]);

    /// <summary>The afl dictionary of the target, relative to the repository; the in-process mutator uses its tokens too.</summary>
    public string Dictionary => $"tests/Compression.Fuzz/{Name}.dict";

    public static IReadOnlyList<FuzzTarget> All { get; } = [Model, Recipe];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}

/// <summary>Thrown when a target broke the contract without an exception of its own (a bad code, a failed round trip).</summary>
public sealed class FuzzContractException(string message) : Exception(message);

/// <summary>The two parsers of untrusted input and what the product does right after each.</summary>
public static partial class FuzzTargets
{
    /// <summary>The model's file name in its temp folder, so that a seed can point its external data at the model file itself.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>
    /// Writes the bytes as a model file in a folder of its own, then: Get-ModelInfo's inspection (metadata only);
    /// a full load through the memory-mapped skeleton parser; the graph check, the weight sparsity and a decode of
    /// every tensor, as passes do; a save, and a load of what was saved, which must succeed.
    /// </summary>
    public static void Model(byte[] bytes)
    {
        var folder = Directory.CreateTempSubdirectory("compression-fuzz-");
        try
        {
            var path = Path.Combine(folder.FullName, ModelFileName);
            File.WriteAllBytes(path, bytes);
            Expect(() => ModelInspector.Inspect(path));

            var saved = Path.Combine(folder.FullName, "saved.onnx");
            var model = Expect(() =>
            {
                var loaded = ModelLoader.Load(path, new LoadOptions { MemoryMapThreshold = 0 });
                GraphChecker.Check(loaded);
                ModelInspector.WeightSparsity(loaded);
                DecodeTensors(loaded);
                ModelWriter.Save(loaded, saved);
                return loaded;
            });
            if (model is not null)
            {
                // We wrote it from a model we accepted: refusing it now would be our bug, whatever the code.
                try
                {
                    ModelLoader.Load(saved);
                }
                catch (CompressionException e)
                {
                    throw new FuzzContractException($"A model that loaded and saved does not load again: {e}");
                }
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Parses and validates the text as a recipe, with an empty folder for the data paths it names.</summary>
    public static void Recipe(string text)
    {
        var folder = Directory.CreateTempSubdirectory("compression-fuzz-");
        try
        {
            Expect(() => RecipeParser.Parse(text, "fuzz.yaml", folder.FullName).Diagnostics);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Decodes every tensor the way passes read them, by element type.</summary>
    private static void DecodeTensors(OnnxModel model)
    {
        foreach (var tensor in ModelWalker.Tensors(model.Proto))
        {
            var type = TensorCodec.ElementTypeOf(tensor);
            if (type == ElementType.String)
            {
                TensorCodec.ToStrings(tensor);
            }
            else if (ElementTypes.IsFloatingPoint(type))
            {
                TensorCodec.ToSingle(tensor);
            }
            else if (type is ElementType.Complex64 or ElementType.Complex128)
            {
                TensorCodec.GetRawBytes(tensor);
            }
            else
            {
                TensorCodec.ToInt64(tensor);
            }
        }
    }

    /// <summary>Runs the step; a CompressionException is an accepted outcome when every code it carries is a CMP code.</summary>
    private static T? Expect<T>(Func<T> step)
        where T : class
    {
        try
        {
            var result = step();
            if (result is IReadOnlyList<Diagnostic> diagnostics)
            {
                RequireCodes(diagnostics);
            }

            return result;
        }
        catch (CompressionException e)
        {
            RequireCodes(e.Diagnostics);
            return null;
        }
    }

    private static void RequireCodes(IEnumerable<Diagnostic> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
        {
            if (!CodePattern().IsMatch(diagnostic.Code))
            {
                throw new FuzzContractException($"A diagnostic without a CMP code: {diagnostic}");
            }
        }
    }

    [GeneratedRegex(@"^CMP[1-5]\d{3}$")]
    private static partial Regex CodePattern();
}
