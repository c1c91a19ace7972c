using System.Text.RegularExpressions;
using Compression.Core.Onnx;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Compression.Build.Tests;

/// <summary>The task with a fake build engine: the exact log lines and codes a user sees.</summary>
public sealed class CompressModelTests : IDisposable
{
    private readonly string project = Path.Combine(Path.GetTempPath(), "compression-task-tests", Guid.NewGuid().ToString("N"));

    public CompressModelTests() => Directory.CreateDirectory(Path.Combine(project, "models"));

    public void Dispose() => Directory.Delete(project, recursive: true);

    [SkippableFact]
    public void Success_logs_one_normal_line_per_model_and_returns_the_output()
    {
        CopyMnist();
        Write("models/recipe.yaml", "steps:\n  - dedupe_initializers: {}\ngates: { max_size_ratio: 1.5 }\n");
        var (task, engine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));

        Assert.True(task.Execute());
        Assert.Empty(engine.Errors);
        var line = Assert.Single(engine.Messages, m => m.Importance == MessageImportance.Normal).Message;
        Assert.Matches(@"^Compression: models/mnist-8\.onnx: 25\.8 KB -> 2\d\.\d KB \(\d+\.\d %\); gates: 1 passed$", line);
        var output = Assert.Single(task.CompressedModels);
        Assert.Equal(Path.Combine(project, "obj", "compressed", "models", "mnist-8.onnx"), output.ItemSpec);
        Assert.Equal("models/mnist-8.onnx", output.GetMetadata("TargetPath"));
        Assert.Contains(engine.Messages, m => m.Importance == MessageImportance.Low && m.Message!.StartsWith("Step 1: dedupe_initializers", StringComparison.Ordinal));

        // A second run finds the output newer than every input and skips the model.
        var (again, againEngine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        Assert.True(again.Execute());
        Assert.Contains(againEngine.Messages, m => m.Message == "models/mnist-8.onnx: up to date");
    }

    [Fact]
    public void A_recipe_error_is_an_error_with_the_recipe_file_line_and_column()
    {
        Write("models/m.onnx", "not used");
        Write("models/recipe.yaml", "version: 1\nstepz: []\n");
        var (task, engine) = Task(Item("models/m.onnx", "models/recipe.yaml"));

        Assert.False(task.Execute());
        var recipe = Path.Combine(project, "models", "recipe.yaml");
        Assert.Equal(
            [$"{recipe}(2,1): error CMP1003: Unknown key 'stepz' in the recipe. Did you mean 'steps'? Known keys: version, data, evaluate, gates, search, output, steps."],
            engine.ErrorLines);
        Assert.Empty(task.CompressedModels);
    }

    [Fact]
    public void A_missing_model_and_a_missing_recipe_are_errors_naming_the_model()
    {
        Write("models/recipe.yaml", "steps: []\n");
        Write("models/present.onnx", "x");
        var (task, engine) = Task(Item("models/absent.onnx", "models/recipe.yaml"), new TaskItem("models/present.onnx"));

        Assert.False(task.Execute());
        Assert.Equal(
            [
                $"{Path.Combine(project, "models", "absent.onnx")}(0,0): error CMP2001: The model file does not exist.",
                $"{Path.Combine(project, "models", "present.onnx")}(0,0): error CMP1001: The CompressModel item 'models/present.onnx' has no Recipe metadata: write <CompressModel Include=\"models/present.onnx\" Recipe=\"recipe.yaml\" />.",
            ],
            engine.ErrorLines);
    }

    [SkippableFact]
    public void A_failed_gate_fails_the_build_naming_the_metric_the_limit_and_the_value_or_warns_when_asked()
    {
        CopyMnist();
        Write("models/recipe.yaml", "steps: []\ngates: { max_size_ratio: 0.5 }\n");
        var (task, engine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));

        Assert.False(task.Execute());
        var error = Assert.Single(engine.ErrorLines);
        Assert.Matches(@"recipe\.yaml\(0,0\): error CMP4001: models/mnist-8\.onnx: Gate max_size_ratio: the size ratio is 10\d\.\d\d %, limit 50\.00 % — failed\.$", error);
        Assert.Empty(task.CompressedModels);

        var (lenient, lenientEngine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        lenient.FailOnGate = false;
        Assert.True(lenient.Execute());
        Assert.Matches(@"warning CMP4001: models/mnist-8\.onnx: Gate max_size_ratio", Assert.Single(lenientEngine.WarningLines));
    }

    [Fact]
    public void An_output_path_onto_the_source_model_is_refused_and_nothing_is_overwritten()
    {
        Write("models/m.onnx", "original bytes");
        Write("models/recipe.yaml", "steps: []\n");
        var item = Item("models/m.onnx", "models/recipe.yaml");
        item.SetMetadata("OutputPath", "../models/m.onnx");
        var (task, engine) = Task(item);
        task.OutputDirectory = Path.Combine(project, "obj");

        Assert.False(task.Execute());
        Assert.Equal("CMP2010", Assert.Single(engine.Errors).Code);
        Assert.Equal("original bytes", File.ReadAllText(Path.Combine(project, "models", "m.onnx")));
    }

    [SkippableFact]
    public void A_recipe_with_a_search_writes_the_chosen_model_and_a_rebuild_resumes_from_the_journal_under_obj()
    {
        CopyMnist();
        // Sizes only: this test project carries no ONNX Runtime native library to evaluate with.
        Write("models/search.yaml", """
            steps:
              - quantize: { mode: dynamic }
            search:
              space:
                quantize.mode: [dynamic, weight_only]
              constraints: ["size <= 20 KB"]
              strategy: grid
              budget: { trials: 2 }
            """);
        var (task, engine) = Task(Item("models/mnist-8.onnx", "models/search.yaml"));

        Assert.True(task.Execute(), string.Join("\n", engine.ErrorLines));
        var line = Assert.Single(engine.Messages, m => m.Importance == MessageImportance.Normal).Message;
        Assert.Matches(@"^Compression: models/mnist-8\.onnx: search chose trial \d of 2 \(0 from the journal\); 25\.8 KB -> ", line);
        var output = Path.Combine(project, "obj", "compressed", "models", "mnist-8.onnx");
        Assert.True(File.Exists(output + ".search.jsonl"));

        // The output removed (a build stopped before it was written): the next build reads every trial back.
        File.Delete(output);
        var (again, againEngine) = Task(Item("models/mnist-8.onnx", "models/search.yaml"));
        Assert.True(again.Execute());
        Assert.Contains("(2 from the journal)", Assert.Single(againEngine.Messages, m => m.Importance == MessageImportance.Normal).Message, StringComparison.Ordinal);
        Assert.True(File.Exists(output));
    }

    [SkippableFact]
    public void An_exception_the_engine_does_not_expect_is_one_CMP5010_error_on_the_model_the_stack_only_at_detailed_verbosity()
    {
        CopyMnist();
        Write("models/recipe.yaml", "steps: []\n");
        // A file where the report folder should be: moving the report there fails with an IOException, after the model was written.
        Write("reports", "not a folder");
        var (task, engine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        task.ReportDirectory = Path.Combine(project, "reports");

        Assert.False(task.Execute());
        var error = Assert.Single(engine.Errors);
        Assert.Equal("CMP5010", error.Code);
        Assert.Equal(Path.Combine(project, "models", "mnist-8.onnx"), error.File);
        // One line: the exception's type and message (naming the folder), and where to look; no stack.
        Assert.Matches($@"^IOException: [^\r\n]*{Regex.Escape(Path.Combine(project, "reports"))}[^\r\n]* \(Compression did not expect this: -v:detailed shows the stack; see CMP5010 in docs/errors\.md\)$", error.Message);
        var stack = Assert.Single(engine.Messages, m => m.Message!.Contains("   at ", StringComparison.Ordinal));
        Assert.Equal(MessageImportance.Low, stack.Importance);
        Assert.Contains("at Compression.Build.CompressModel.MoveReport", stack.Message, StringComparison.Ordinal);

        // The model written before the failure stays, dated back so the next build compresses it again.
        var output = Path.Combine(project, "obj", "compressed", "models", "mnist-8.onnx");
        Assert.True(File.Exists(output));
        File.Delete(Path.Combine(project, "reports"));
        var (again, againEngine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        again.ReportDirectory = Path.Combine(project, "reports");
        Assert.True(again.Execute(), string.Join("\n", againEngine.ErrorLines));
        Assert.DoesNotContain(againEngine.Messages, m => m.Message == "models/mnist-8.onnx: up to date");
        Assert.True(File.Exists(Path.Combine(project, "reports", "mnist-8.onnx.report.json")));
    }

    [SkippableFact]
    public void A_models_external_data_files_are_inputs_read_without_their_tensors()
    {
        WriteMnistWithExternalData();
        Write("models/recipe.yaml", "steps: []\n");
        var data = Path.Combine(project, "models", "mnist-8.onnx.data");

        var inputs = new GetCompressionInputs { BuildEngine = new FakeBuildEngine(), Models = [Item("models/mnist-8.onnx", "models/recipe.yaml")], ProjectDirectory = project, OutputDirectory = Path.Combine(project, "obj", "compressed") };
        Assert.True(inputs.Execute());
        Assert.Equal([Path.Combine(project, "models", "mnist-8.onnx"), data, Path.Combine(project, "models", "recipe.yaml")], inputs.Inputs.Select(i => i.ItemSpec));

        var (task, engine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        Assert.True(task.Execute(), string.Join("\n", engine.ErrorLines));
        var (unchanged, unchangedEngine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        Assert.True(unchanged.Execute());
        Assert.Contains(unchangedEngine.Messages, m => m.Message == "models/mnist-8.onnx: up to date");

        // The task skips what is up to date on its own too (the target runs when any model changed).
        File.SetLastWriteTimeUtc(data, DateTime.UtcNow.AddSeconds(5));
        var (touched, touchedEngine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        Assert.True(touched.Execute());
        Assert.DoesNotContain(touchedEngine.Messages, m => m.Message == "models/mnist-8.onnx: up to date");
        Assert.Matches(@"^Compression: models/mnist-8\.onnx: ", Assert.Single(touchedEngine.Messages, m => m.Importance == MessageImportance.Normal).Message);

        // Deleted: the inputs are what can still be listed, and the task says what is missing.
        File.Delete(data);
        Assert.True(inputs.Execute());
        Assert.DoesNotContain(data, inputs.Inputs.Select(i => i.ItemSpec));
        var (missing, missingEngine) = Task(Item("models/mnist-8.onnx", "models/recipe.yaml"));
        Assert.False(missing.Execute());
        Assert.Equal("CMP2006", Assert.Single(missingEngine.Errors).Code);
    }

    private (CompressModel Task, FakeBuildEngine Engine) Task(params ITaskItem[] models)
    {
        var engine = new FakeBuildEngine();
        return (new CompressModel { BuildEngine = engine, Models = models, ProjectDirectory = project, OutputDirectory = Path.Combine(project, "obj", "compressed") }, engine);
    }

    private static TaskItem Item(string model, string recipe)
    {
        var item = new TaskItem(model);
        item.SetMetadata("Recipe", recipe);
        return item;
    }

    private void Write(string relative, string text) => File.WriteAllText(Path.Combine(project, relative), text);

    private void CopyMnist() => File.Copy(Mnist(), Path.Combine(project, "models", "mnist-8.onnx"));

    /// <summary>models/mnist-8.onnx with its weights in models/mnist-8.onnx.data.</summary>
    private void WriteMnistWithExternalData() =>
        ModelWriter.Save(ModelLoader.Load(Mnist()), Path.Combine(project, "models", "mnist-8.onnx"), new SaveOptions { ExternalData = ExternalDataMode.Always });

    private static string Mnist()
    {
        var mnist = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/assets/mnist/mnist-8.onnx"));
        Skip.IfNot(File.Exists(mnist), $"mnist-8 is not available here ({mnist}).");
        return mnist;
    }
}
