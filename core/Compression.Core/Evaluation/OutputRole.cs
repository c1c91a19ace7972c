namespace Compression.Core.Evaluation;

/// <summary>What an output holds, which decides the fidelity figures that mean something for it (<see cref="OutputRoles"/>).</summary>
public enum OutputKind
{
    /// <summary>Scores of classes along one axis (logits, probabilities, a per-pixel or per-step class map): top-1 agreement applies.</summary>
    ClassScores,

    /// <summary>One vector per token, [batch, sequence, hidden]: compared as vectors pooled over the sequence (the attention mask where there is one).</summary>
    HiddenStates,

    /// <summary>One vector per sample (a pooled embedding, a feature vector): compared vector by vector.</summary>
    Embedding,

    /// <summary>Anything else (maps, images, regressions, independent probabilities): cosine, SQNR and errors only.</summary>
    Other,
}

/// <summary>The kind of one output, the axis its classes lie along when it holds class scores, and why the rule decided so.</summary>
/// <param name="Output">The output's name.</param>
/// <param name="Kind">What it holds.</param>
/// <param name="ClassAxis">For class scores, the axis of the classes (negative counts from the end); null otherwise.</param>
/// <param name="Reason">The evidence, in words, for logs and reports.</param>
public sealed record OutputRole(string Output, OutputKind Kind, int? ClassAxis, string Reason)
{
    /// <summary>How the kind reads in reports: "class scores", "hidden states", "embedding", "other".</summary>
    public static string Describe(OutputKind kind) => kind switch
    {
        OutputKind.ClassScores => "class scores",
        OutputKind.HiddenStates => "hidden states",
        OutputKind.Embedding => "embedding",
        _ => "other",
    };
}
