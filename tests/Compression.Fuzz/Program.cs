using Compression.Fuzz;
using SharpFuzz;

// dotnet Compression.Fuzz.dll <command>; run-fuzz.sh drives the afl side, docs/fuzzing.md says how to use each.
// Seeds are found from the current folder (run-fuzz.sh runs in the repository) or from where the harness was built.
string Root() => SeedSet.FindRepoRoot(Environment.CurrentDirectory) ?? SeedSet.FindRepoRoot(AppContext.BaseDirectory)
    ?? throw new DirectoryNotFoundException("Run this inside the repository: no Compression.slnx above the current folder.");

switch (args)
{
    case [var name] when FuzzTarget.Find(name) is { } target:
        // Under afl-fuzz: a fork server whose child survives nothing (a crash or a hang kills it, the server starts
        // another). Without afl: one input from stdin, for reproducing a crash.
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target.Execute(buffer.ToArray());
        });
        return 0;

    case ["seeds", var name, var folder] when FuzzTarget.Find(name) is { } target:
        Directory.CreateDirectory(folder);
        foreach (var file in SeedSet.Files(target, Root(), SeedSet.MaxAflSeedBytes))
        {
            File.Copy(file, Path.Combine(folder, Path.GetRelativePath(Root(), file).Replace('/', '_')), overwrite: true);
        }

        return 0;

    case ["run", var name, var mutants, var seed, .. var keep] when FuzzTarget.Find(name) is { } target && keep.Length <= 1:
        var findings = InProcessFuzzer.Run(target, SeedSet.For(target, Root()), int.Parse(mutants), int.Parse(seed));
        for (var i = 0; i < findings.Count; i++)
        {
            Console.WriteLine(findings[i]);
            if (keep is [var folder])
            {
                Directory.CreateDirectory(folder);
                File.WriteAllBytes(Path.Combine(folder, $"{name}-{seed}-{i}"), findings[i].Input);
            }
        }

        Console.WriteLine($"{name}: {findings.Count} finding(s)");
        return findings.Count == 0 ? 0 : 1;

    case ["replay", var name, .. var paths] when FuzzTarget.Find(name) is { } target:
        var failed = 0;
        foreach (var file in paths.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p).Order(StringComparer.Ordinal) : (IEnumerable<string>)[p]))
        {
            var finding = InProcessFuzzer.Try(target, file, File.ReadAllBytes(file), InProcessFuzzer.DefaultTimeLimit);
            Console.WriteLine(finding?.Summary ?? $"ok: {file}");
            failed += finding is null ? 0 : 1;
        }

        return failed == 0 ? 0 : 1;

    case ["minimize", var name, var input, var output] when FuzzTarget.Find(name) is { } target:
        var minimal = InProcessFuzzer.Minimize(target, File.ReadAllBytes(input), InProcessFuzzer.DefaultTimeLimit);
        File.WriteAllBytes(output, minimal);
        Console.WriteLine($"{input}: {minimal.Length} bytes in {output}");
        return 0;

    default:
        Console.Error.WriteLine("""
            usage: dotnet Compression.Fuzz.dll <target>                      fuzz under afl-fuzz (one input from stdin without it)
                   dotnet Compression.Fuzz.dll seeds <target> <folder>       copy the target's seed corpus into folder
                   dotnet Compression.Fuzz.dll run <target> <mutants> <seed> [folder]  seeds, then mutants, in process (findings kept in folder)
                   dotnet Compression.Fuzz.dll replay <target> <file|folder>... each input in process, e.g. afl's crashes/
                   dotnet Compression.Fuzz.dll minimize <target> <in> <out>   shrink a crashing input, keeping its crash
            targets: model, recipe
            """);
        return 2;
}
