using Compression.Core.Diagnostics;
using Compression.Core.Onnx;
using Compression.Core.Options;

namespace Compression.Core.Passes;

/// <summary>
/// One transformation of a model with one job. A pass has a recipe name (snake_case, the key of its step), a
/// description, and an options type whose properties are its options: each with a default (the property's
/// initial value) and an <see cref="OptionAttribute"/> description. Recipes find passes in their registry (Recipes/PassRegistry.cs).
/// </summary>
public interface IPass
{
    /// <summary>The step key in recipes, e.g. <c>fold_batch_norm</c>.</summary>
    string Name { get; }

    string Description { get; }

    Type OptionsType { get; }

    /// <summary>
    /// Rewrites the model (in place or into a new one) and returns it with its typed figures. The result must pass
    /// <see cref="Onnx.Graphs.GraphChecker"/>; the pipeline checks that after every step.
    /// </summary>
    PassResult Run(OnnxModel model, PassOptions options, PassContext context);
}

/// <summary>Base of every options type: a record whose init properties are the options.</summary>
public abstract record PassOptions;

/// <summary>Options of a pass that has none.</summary>
public sealed record NoOptions : PassOptions;

/// <summary>What a pass reports: the model and its typed figures (<see cref="StepResult"/>, with per-layer rows).</summary>
public sealed record PassResult(OnnxModel Model, StepResult Result);

/// <summary>What a pass may use besides the model: the log, cancellation, and the recipe's data sets.</summary>
public sealed class PassContext(ICompressionLog log, CancellationToken cancellation = default)
{
    public ICompressionLog Log { get; } = log;

    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>Data sets by recipe name (calibration data for passes that need it).</summary>
    public IReadOnlyDictionary<string, Data.IDataSource> DataSets { get; init; } = new Dictionary<string, Data.IDataSource>();

    /// <summary>
    /// Evaluates a candidate model against the run's input with the recipe's evaluate section (for passes that
    /// judge intermediate results, like an iterative prune schedule); null when the recipe has none.
    /// </summary>
    public Func<OnnxModel, Evaluation.EvaluationReport>? EvaluateCandidate { get; init; }
}

/// <summary>A pass with a typed options record.</summary>
public abstract class Pass<TOptions> : IPass
    where TOptions : PassOptions, new()
{
    public abstract string Name { get; }

    public abstract string Description { get; }

    public Type OptionsType => typeof(TOptions);

    public PassResult Run(OnnxModel model, PassOptions options, PassContext context) =>
        Run(model, options as TOptions ?? throw new ArgumentException($"Pass {Name} takes {typeof(TOptions).Name}.", nameof(options)), context);

    protected abstract PassResult Run(OnnxModel model, TOptions options, PassContext context);
}
