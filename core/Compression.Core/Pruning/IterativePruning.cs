using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Passes;
using Compression.Core.Pipeline;

namespace Compression.Core.Pruning;

/// <summary>
/// Prune, test, repeat: step k prunes the previous step's model to k/steps of the target sparsity and of each
/// <c>layers</c> entry's (with calibration, reconstruction runs on that model's own activations), evaluates it with
/// the recipe's evaluate section, and stops at the first step that misses <see cref="PruneSchedule.StopWhen"/>. The last step that met
/// it is kept; when none did, the model is left unpruned with a warning.
/// </summary>
internal static class IterativePruning
{
    public static PassResult Run(OnnxModel model, PruneOptions options, PruneSchedule schedule, IPruner pruner, PassContext context)
    {
        if (options.Method != PruningMethod.Unstructured)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneOptionConflict,
                $"A schedule of {schedule.Steps} steps applies to unstructured pruning; the {options.Method} method prunes to its fixed ratio in one step."));
        }

        if (schedule.StopWhen is not { } stopWhen || context.EvaluateCandidate is not { } evaluate)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneScheduleNeedsEvaluation,
                $"A schedule of {schedule.Steps} steps needs {(schedule.StopWhen is null ? "schedule.stop_when (e.g. { accuracy_drop: 0.01 })" : "the recipe's evaluate section")} to judge each step by."));
        }

        PassResult? kept = null;
        var current = model;
        var steps = new List<Dictionary<string, object>>();
        for (var step = 1; step <= schedule.Steps; step++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var sparsity = options.Sparsity * step / schedule.Steps;
            var candidate = new OnnxModel(current.Proto.Clone(), model.Path); // tensor bytes are shared, not copied
            var layers = options.Layers.Where(l => l.Value is not null)
                .ToDictionary(l => l.Key, l => l.Value with { Sparsity = l.Value.Sparsity * step / schedule.Steps });
            var result = pruner.Prune(candidate, options with { Sparsity = sparsity, Layers = layers, Schedule = null }, context);
            var verdicts = Gates.Check(stopWhen, 1, 1, evaluate(result.Model));
            var met = verdicts.All(v => v.Passed);
            steps.Add(new Dictionary<string, object>
            {
                ["step"] = step,
                ["sparsity"] = Math.Round(sparsity, 4),
                ["met"] = met,
                ["checks"] = verdicts.Select(v => v.Message).ToList(),
            });
            context.Log.Verbose($"prune: schedule step {step} of {schedule.Steps} at {sparsity.ToString("P1", CultureInfo.InvariantCulture)}: {string.Join(" ", verdicts.Select(v => v.Message))}");
            if (!met)
            {
                break;
            }

            kept = result;
            current = result.Model;
        }

        if (kept is null)
        {
            context.Log.Report(Diagnostic.Warning(ErrorCodes.PruneScheduleNoStep,
                $"No step of the pruning schedule met stop_when (the first, at {(options.Sparsity / schedule.Steps).ToString("P1", CultureInfo.InvariantCulture)}, did not); the model is left unpruned."));
            return new PassResult(model, new Dictionary<string, object> { ["schedule"] = steps, ["pruned_layers"] = 0 });
        }

        var statistics = new Dictionary<string, object>(kept.Statistics) { ["schedule"] = steps };
        return new PassResult(kept.Model, statistics);
    }
}
