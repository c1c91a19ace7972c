using Microsoft.Build.Framework;

namespace Compression.Build;

/// <summary>What the compression tasks share: the CompressModel items and where their outputs go.</summary>
public abstract class CompressionTask : Microsoft.Build.Utilities.Task
{
    /// <summary>The models; metadata <c>Recipe</c> (required) and <c>OutputPath</c> (relative to the output directory).</summary>
    [Required]
    public ITaskItem[] Models { get; set; } = [];

    [Required]
    public string ProjectDirectory { get; set; } = "";

    /// <summary>Where compressed models are written (the project's intermediate folder); they are copied to the output from there.</summary>
    [Required]
    public string OutputDirectory { get; set; } = "";

    /// <summary>Each item resolved to its model, recipe and output paths.</summary>
    private protected IEnumerable<CompressionJob> Jobs() => Models.Select(CompressionJob.From(ProjectDirectory, OutputDirectory));
}
