using System.Globalization;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Inspection;
using Compression.Core.Passes;

namespace Compression.Core.Pruning;

/// <summary>
/// Prune, test, repeat: step k prunes to k/steps of the target (the sparsity, the structured ratios and head counts,
/// and each <c>layers</c> entry's), evaluates the result with the recipe's evaluate section, and stops at the first
/// step that misses <see cref="PruneSchedule.StopWhen"/>. The last step that met it is kept; when none did, the model
/// is left unpruned with a warning. Unstructured steps start from the previous step's model (with calibration,
/// reconstruction runs on that model's own activations). Structured steps start from the original each time:
/// removed units are gone for good, and each refit aims at the original's outputs, so a step that removes more is
/// one fresh prune, not a prune of a refit model.
/// </summary>
internal static class IterativePruning
{
    public static PassResult Run(OnnxModel model, PruneOptions options, PruneSchedule schedule, IPruner pruner, PassContext context)
    {
        if (schedule.StopWhen is not { } stopWhen || context.EvaluateCandidate is not { } evaluate)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.PruneScheduleNeedsEvaluation,
                $"A schedule of {schedule.Steps} steps needs {(schedule.StopWhen is null ? "schedule.stop_when (e.g. { accuracy_drop: 0.01 })" : "the recipe's evaluate section")} to judge each step by."));
        }

        var modelMacs = MacCounter.Count(model.Proto);
        PassResult? kept = null;
        var current = model;
        var steps = new List<ScheduleStep>();
        for (var step = 1; step <= schedule.Steps; step++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var fraction = (double)step / schedule.Steps;
            var stepOptions = Scaled(options, fraction);
            if (options.Method == PruningMethod.Structured && Structured.StructuredPruner.Plan(model, stepOptions).Groups.Count == 0)
            {
                // Heads are whole: with few heads and many steps an early step may remove nothing.
                steps.Add(new ScheduleStep(step, Met: true, ["removes no unit"]));
                continue;
            }

            var start = options.Method == PruningMethod.Structured ? model : current;
            var candidate = new OnnxModel(start.Proto.Clone(), model.Path); // tensor bytes are shared, not copied
            var result = pruner.Prune(candidate, stepOptions, context);
            // The step's file against the model the recipe was given: a size or latency limit reads the real figures.
            var report = evaluate(result.Model);
            var verdicts = Gates.Check(stopWhen, report.Reference.SizeBytes, report.Candidate!.SizeBytes, modelMacs, MacCounter.Count(result.Model.Proto), report);
            var met = verdicts.All(v => v.Passed);
            var record = new ScheduleStep(step, met, verdicts.Select(v => v.Message).ToList()) { Sparsity = Math.Round(stepOptions.Sparsity, 4) };
            var described = stepOptions.Sparsity.ToString("P1", CultureInfo.InvariantCulture);
            if (options.Method == PruningMethod.Structured)
            {
                var structured = stepOptions.Structured;
                record = record with
                {
                    Heads = structured.Heads,
                    Neurons = Math.Round(structured.Neurons ?? stepOptions.Sparsity, 4),
                    Channels = Math.Round(structured.Channels ?? stepOptions.Sparsity, 4),
                };
                described = FormattableString.Invariant($"{structured.Heads} heads, {structured.Neurons ?? stepOptions.Sparsity:P1} of the neurons, {structured.Channels ?? stepOptions.Sparsity:P1} of the channels");
            }

            steps.Add(record);
            context.Log.Verbose($"prune: schedule step {step} of {schedule.Steps} at {described}: {string.Join(" ", verdicts.Select(v => v.Message))}");
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
                $"No step of the pruning schedule met stop_when (the first, at 1/{schedule.Steps} of the target, did not); the model is left unpruned."));
            return new PassResult(model, new UnprunedResult { Schedule = steps });
        }

        return kept with { Result = (PruneResult)kept.Result with { Schedule = steps } };
    }

    /// <summary>The options of a step that goes <paramref name="fraction"/> of the way to the target; heads are whole, rounded down.</summary>
    private static PruneOptions Scaled(PruneOptions options, double fraction)
    {
        var structured = options.Structured;
        return options with
        {
            Sparsity = options.Sparsity * fraction,
            Schedule = null,
            Structured = structured with
            {
                Heads = Whole(structured.Heads, fraction),
                Neurons = structured.Neurons * fraction,
                Channels = structured.Channels * fraction,
            },
            Layers = options.Layers.Where(l => l.Value is not null).ToDictionary(l => l.Key, l => l.Value with
            {
                Sparsity = l.Value.Sparsity * fraction,
                Neurons = l.Value.Neurons * fraction,
                Channels = l.Value.Channels * fraction,
                Heads = l.Value.Heads is { } heads ? Whole(heads, fraction) : null,
            }),
        };
    }

    private static int Whole(int count, double fraction) => (int)Math.Floor(count * fraction + 1e-9);
}
