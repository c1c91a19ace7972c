using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Recipes;
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

    /// <summary>
    /// The files compressing the model reads besides the model and the recipe: the model's external data files (the
    /// loader reads no tensor, and refuses a location outside the model's folder) and the files the recipe's data sets
    /// name. Null when the model or the recipe cannot be read: what they refer to is then unknown, and compressing
    /// the model reports why.
    /// </summary>
    public IReadOnlyList<string>? ReferencedFiles()
    {
        try
        {
            var model = ModelLoader.Load(Model, LoadOptions.MetadataOnly);
            return
            [
                .. model.ExternalDataFiles.Select(location => Path.GetFullPath(Path.Combine(model.Directory!, location))),
                .. RecipeParser.Load(Recipe).DataFiles().Select(file => file.Path),
            ];
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }
    }
}
