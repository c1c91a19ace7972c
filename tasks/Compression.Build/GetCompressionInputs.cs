using Compression.Core.Recipes;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Compression.Build;

/// <summary>
/// Lists what the compression target depends on and produces, so MSBuild skips it when nothing changed: the models,
/// their recipes, every data file the recipes name, and the output paths. Recipe errors are left to CompressModel.
/// </summary>
public sealed class GetCompressionInputs : CompressionTask
{
    [Output]
    public ITaskItem[] Inputs { get; set; } = [];

    [Output]
    public ITaskItem[] Outputs { get; set; } = [];

    private protected override void Run()
    {
        var inputs = new SortedSet<string>(StringComparer.Ordinal);
        var outputs = new List<ITaskItem>();
        foreach (var job in Jobs())
        {
            inputs.Add(job.Model);
            var output = new TaskItem(job.Output);
            output.SetMetadata("TargetPath", job.TargetPath);
            outputs.Add(output);
            if (job.Recipe.Length == 0)
            {
                continue;
            }

            inputs.Add(job.Recipe);
            try
            {
                foreach (var (_, _, path) in RecipeParser.Load(job.Recipe).DataFiles())
                {
                    inputs.Add(path);
                }
            }
            catch (Exception e) when (IsReportable(e))
            {
                // CompressModel reports it (with the line and column for a recipe error); here it only means the target must run.
            }
        }

        Inputs = [.. inputs.Select(i => new TaskItem(i))];
        Outputs = [.. outputs];
    }
}
