namespace Compression.Fuzz;

/// <summary>An input that broke the contract: an unexpected exception, or no answer within the time limit.</summary>
public sealed record FuzzFinding(string Target, string Origin, byte[] Input, string Problem)
{
    public override string ToString() => $"{Target} input from {Origin} ({Input.Length} bytes): {Problem}";

    /// <summary>The problem's first lines: the exception and where it was thrown, enough to tell findings apart.</summary>
    public string Summary => $"{Target} input from {Origin} ({Input.Length} bytes): {string.Join(Environment.NewLine, Problem.Split('\n').Take(5))}";
}

/// <summary>
/// Fuzzing without afl, for CI and the xunit tests: the seeds, then a bounded number of mutants of them from a
/// seeded random generator, so that every run tries the same inputs and a finding reproduces.
/// </summary>
public static class InProcessFuzzer
{
    /// <summary>Parsing a small input takes milliseconds; one that takes this long is a hang.</summary>
    public static TimeSpan DefaultTimeLimit { get; } = TimeSpan.FromSeconds(10);

    public static IReadOnlyList<FuzzFinding> Run(FuzzTarget target, SeedSet seeds, int mutants, int randomSeed, TimeSpan? timeLimit = null)
    {
        var findings = new List<FuzzFinding>();
        foreach (var (origin, bytes) in seeds.Inputs)
        {
            Try(target, origin, bytes, timeLimit ?? DefaultTimeLimit, findings);
        }

        var mutator = new Mutator(randomSeed, seeds.Inputs.Select(s => s.Bytes).ToList(), seeds.Tokens);
        for (var i = 0; i < mutants && seeds.Inputs.Count > 0; i++)
        {
            var parent = seeds.Inputs[i % seeds.Inputs.Count];
            Try(target, $"mutant {i} of {parent.Origin} (seed {randomSeed})", mutator.Mutate(parent.Bytes), timeLimit ?? DefaultTimeLimit, findings);
        }

        return findings;
    }

    /// <summary>Runs one input; returns the finding, or null when the target kept its contract.</summary>
    public static FuzzFinding? Try(FuzzTarget target, string origin, byte[] input, TimeSpan timeLimit)
    {
        var findings = new List<FuzzFinding>();
        Try(target, origin, input, timeLimit, findings);
        return findings.SingleOrDefault();
    }

    /// <summary>
    /// Shrinks an input that breaks the target to a small one that breaks it the same way (same exception type
    /// thrown from the same place), by deleting ever smaller chunks: what a regression test commits.
    /// </summary>
    public static byte[] Minimize(FuzzTarget target, byte[] input, TimeSpan timeLimit)
    {
        var signature = Signature(Try(target, "input", input, timeLimit)) ?? throw new ArgumentException("The input does not break the target.", nameof(input));
        var current = input;
        for (var chunk = Math.Max(1, current.Length / 2); chunk >= 1; chunk /= 2)
        {
            for (var at = 0; at + chunk <= current.Length;)
            {
                byte[] candidate = [.. current.AsSpan(0, at), .. current.AsSpan(at + chunk)];
                if (Signature(Try(target, "candidate", candidate, timeLimit)) == signature)
                {
                    current = candidate;
                }
                else
                {
                    at += chunk;
                }
            }
        }

        return current;
    }

    /// <summary>The exception's type and the frame that threw it; the whole problem for a hang.</summary>
    private static string? Signature(FuzzFinding? finding) =>
        finding is null ? null : string.Join(" | ", finding.Problem.Split('\n').Take(2).Select(l => l.Split(':')[0].Split(" in ")[0].Trim()));

    private static void Try(FuzzTarget target, string origin, byte[] input, TimeSpan timeLimit, List<FuzzFinding> findings)
    {
        // A thread of its own, so that a hang is reported instead of holding up the run (the thread is left behind).
        var run = Task.Factory.StartNew(() => target.Execute(input), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            if (!run.Wait(timeLimit))
            {
                findings.Add(new FuzzFinding(target.Name, origin, input, $"no answer within {timeLimit.TotalSeconds:0} s"));
            }
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            findings.Add(new FuzzFinding(target.Name, origin, input, e.InnerException!.ToString()));
        }
    }
}
