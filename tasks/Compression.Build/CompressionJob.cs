using Compression.Core.Diagnostics;
using Microsoft.Build.Framework;

namespace Compression.Build;

/// <summary>One CompressModel item resolved: the model, its recipe, and where its output goes in the build.</summary>
internal sealed record CompressionJob(string Model, string Recipe, string Output, string TargetPath, string Relative, Diagnostic? Problem)
{
    public static Func<ITaskItem, CompressionJob> From(string projectDirectory, string outputDirectory) => item =>
    {
        var model = Path.GetFullPath(Path.Combine(projectDirectory, item.ItemSpec));
        var relative = Path.GetRelativePath(projectDirectory, model);
        if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
        {
            relative = Path.GetFileName(model);
        }

        var recipe = item.GetMetadata("Recipe");
        var targetPath = item.GetMetadata("OutputPath") is { Length: > 0 } explicitPath ? explicitPath : relative;
        var output = Path.GetFullPath(Path.Combine(outputDirectory, targetPath));
        Diagnostic? problem = null;
        if (recipe.Length == 0)
        {
            problem = Diagnostic.Error(ErrorCodes.RecipeNotFound, $"The CompressModel item '{item.ItemSpec}' has no Recipe metadata: write <CompressModel Include=\"{item.ItemSpec}\" Recipe=\"recipe.yaml\" />.", model);
        }
        else if (!File.Exists(model))
        {
            problem = Diagnostic.Error(ErrorCodes.ModelNotFound, "The model file does not exist.", model);
        }
        else if (string.Equals(output, model, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase))
        {
            problem = Diagnostic.Error(ErrorCodes.OutputIsInput, $"The output path '{targetPath}' is the source model itself; the source is never overwritten. Set the item's OutputPath metadata to another file.", model);
        }

        return new CompressionJob(model, recipe.Length == 0 ? "" : Path.GetFullPath(Path.Combine(projectDirectory, recipe)), output, targetPath, relative, problem);
    };
}
