using System.Management.Automation;

namespace Compression.PowerShell.Tests;

/// <summary>Tab completion as the console asks for it (TabExpansion2), and -Data naming a recipe's data set.</summary>
public sealed class CompletionTests
{
    private const string Recipe = """
        version: 1
        data:
          calibration: { format: idx, path: IMAGES, take: 64 }
          test: { format: idx, path: IMAGES, labels: LABELS, take: 500 }
          test_small: { format: idx, path: IMAGES, labels: LABELS, take: 50 }
        steps: []
        """;

    [SkippableFact]
    public void Enum_like_parameters_complete_to_their_values()
    {
        using var host = ModuleHost.Create();
        Assert.Equal(["BFloat16", "Dynamic", "Float16", "Static", "WeightOnly"], Complete(host, "Invoke-ModelQuantize mnist-8.onnx -Mode "));
        Assert.Equal(["Entropy", "Mse"], Complete(host, "Invoke-ModelQuantize mnist-8.onnx -Method E").Concat(Complete(host, "Invoke-ModelQuantize mnist-8.onnx -Method Ms")));
    }

    [SkippableFact]
    public void Data_completes_to_the_data_sets_of_the_recipe_on_the_command_line()
    {
        using var host = ModuleHost.Create();
        WriteRecipe(host);

        Assert.Equal(["calibration", "test", "test_small"], Complete(host, "Measure-Model mnist-8.onnx -Recipe ./recipe.yaml -Data "));
        Assert.Equal(["test", "test_small"], Complete(host, "Compare-Model mnist-8.onnx mnist-8.onnx -Recipe recipe.yaml -Data te"));
    }

    [SkippableFact]
    public void Measure_Model_measures_on_a_data_set_named_in_a_recipe_and_an_unknown_name_lists_the_known_ones()
    {
        using var host = ModuleHost.Create();
        WriteRecipe(host);

        var measurement = Assert.Single(host.Run("Measure-Model mnist-8.onnx -Recipe recipe.yaml -Data test_small"));
        var task = PSObject.AsPSObject(measurement.Properties["Task"].Value);
        Assert.Equal(50, Convert.ToInt32(task.Properties["Samples"].Value));

        host.Run("Measure-Model mnist-8.onnx -Recipe recipe.yaml -Data tset", out var shell);
        var error = Assert.Single(shell.Streams.Error);
        Assert.StartsWith("CMP1008,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Contains("calibration, test, test_small", error.Exception.Message, StringComparison.Ordinal);
    }

    private static void WriteRecipe(ModuleHost host) =>
        File.WriteAllText(Path.Combine(host.Folder, "recipe.yaml"), Recipe.Replace("IMAGES", ModuleHost.MnistImages).Replace("LABELS", ModuleHost.MnistLabels));

    private static string[] Complete(ModuleHost host, string line)
    {
        var completion = (CommandCompletion)Assert.Single(host.Run($"TabExpansion2 -inputScript '{line.Replace("'", "''")}' -cursorColumn {line.Length}")).BaseObject;
        return completion.CompletionMatches.Select(m => m.CompletionText).Order(StringComparer.Ordinal).ToArray();
    }
}
