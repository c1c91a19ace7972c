using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Compression.Build;

/// <summary>
/// Lists what the compression target depends on and produces, so MSBuild skips it when nothing changed: the models,
/// their external data files, their recipes, every data file the recipes name, and the output paths. A model or recipe
/// that cannot be read adds only itself; CompressModel reports why.
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
            inputs.UnionWith(job.ReferencedFiles() ?? []);
        }

        Inputs = [.. inputs.Select(i => new TaskItem(i))];
        Outputs = [.. outputs];
    }
}
