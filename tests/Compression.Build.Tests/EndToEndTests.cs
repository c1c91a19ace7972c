using Compression.Core.Onnx;

namespace Compression.Build.Tests;

/// <summary>Consumer projects built with the packed task from a local feed, in temp folders.</summary>
[Trait("Category", "EndToEnd")]
public sealed class EndToEndTests(PackageFixture package) : IClassFixture<PackageFixture>, IDisposable
{
    private readonly string project = Path.Combine(package.Root, Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(project, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [SkippableFact]
    public void Build_no_op_touch_publish_and_clean()
    {
        Consumer(("models/mnist-8.onnx", "models/recipe.yaml"));
        Write("models/recipe.yaml", "steps:\n  - dedupe_initializers: {}\ngates: { max_size_ratio: 1.5 }\n");

        var build = Build("build");
        Assert.Contains("Compression: models/mnist-8.onnx:", build);
        var output = Path.Combine(project, "bin", "Debug", "net10.0", "models", "mnist-8.onnx");
        Assert.True(File.Exists(output));
        Assert.False(File.Exists(Path.Combine(project, "bin", "Debug", "net10.0", "models", "recipe.yaml")));

        var noOp = Build("build");
        Assert.Contains("Skipping target \"CompressModels\" because all output files are up-to-date", noOp);
        Assert.DoesNotContain("Compression: models/mnist-8.onnx:", noOp);

        File.SetLastWriteTimeUtc(Path.Combine(project, "models", "recipe.yaml"), DateTime.UtcNow.AddSeconds(2));
        Assert.Contains("Compression: models/mnist-8.onnx:", Build("build"));

        var publishFolder = Path.Combine(project, "published");
        Build("publish", "-o", publishFolder);
        Assert.True(File.Exists(Path.Combine(publishFolder, "models", "mnist-8.onnx")));

        Build("clean", noRestoreSwitches: true);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(Path.Combine(project, "obj", "Debug", "net10.0", "compressed", "models", "mnist-8.onnx")));
    }

    [SkippableFact]
    public void Two_models_out_of_proc()
    {
        Consumer(("models/mnist-8.onnx", "models/recipe.yaml"), ("models/copy.onnx", "models/recipe.yaml"));
        File.Copy(Path.Combine(project, "models", "mnist-8.onnx"), Path.Combine(project, "models", "copy.onnx"));
        Write("models/recipe.yaml", "steps: []\n");

        var build = Build("build", "-p:CompressionTaskOutOfProc=true");
        Assert.Contains("Compression: models/mnist-8.onnx:", build);
        Assert.Contains("Compression: models/copy.onnx:", build);
        // Logged in item order whatever order the models finished in.
        Assert.True(build.IndexOf("Compression: models/mnist-8.onnx:", StringComparison.Ordinal) < build.IndexOf("Compression: models/copy.onnx:", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(project, "bin", "Debug", "net10.0", "models", "copy.onnx")));

        // Touching one model re-runs only that one.
        File.SetLastWriteTimeUtc(Path.Combine(project, "models", "copy.onnx"), DateTime.UtcNow.AddSeconds(2));
        var touched = Build("build", "-p:CompressionTaskOutOfProc=true");
        Assert.Contains("Compression: models/copy.onnx:", touched);
        Assert.DoesNotContain("Compression: models/mnist-8.onnx:", touched);

        // Design-time builds (the IDE) never compress.
        File.SetLastWriteTimeUtc(Path.Combine(project, "models", "copy.onnx"), DateTime.UtcNow.AddSeconds(4));
        Assert.DoesNotContain("Compression: models/", Build("build", "-p:DesignTimeBuild=true"));
    }

    [SkippableFact]
    public void A_failing_gate_fails_the_build_with_its_code()
    {
        Consumer(("models/mnist-8.onnx", "models/recipe.yaml"));
        Write("models/recipe.yaml", "steps: []\ngates: { max_size_ratio: 0.5 }\n");
        var (exitCode, output) = PackageFixture.Dotnet(project, "build", "--packages", package.Packages, "-v:n");
        Assert.NotEqual(0, exitCode);
        Assert.Matches(@"recipe\.yaml : error CMP4001: models/mnist-8\.onnx: Gate max_size_ratio: the size ratio is [\d.]+ %, limit 50\.00 %", output);

        var (lenientExit, lenient) = PackageFixture.Dotnet(project, "build", "--packages", package.Packages, "-v:n", "-p:CompressionFailOnGate=false");
        Assert.Equal(0, lenientExit);
        Assert.Contains("warning CMP4001", lenient);
    }

    [SkippableFact]
    public void A_models_external_data_file_is_an_input_of_the_incremental_build()
    {
        Consumer(("models/external.onnx", "models/recipe.yaml"));
        var data = Path.Combine(project, "models", "external.onnx.data");
        ModelWriter.Save(ModelLoader.Load(Path.Combine(project, "models", "mnist-8.onnx")), Path.Combine(project, "models", "external.onnx"),
            new SaveOptions { ExternalData = ExternalDataMode.Always });
        Assert.True(File.Exists(data));
        Write("models/recipe.yaml", "steps: []\n");

        Assert.Contains("Compression: models/external.onnx:", Build("build"));
        var noOp = Build("build");
        Assert.Contains("Skipping target \"CompressModels\" because all output files are up-to-date", noOp);
        Assert.DoesNotContain("Compression: models/external.onnx:", noOp);

        // Now, not ahead of the clock: a data file stamped in the future stays newer than the outputs the next build
        // writes if that build takes less time than the lead, and the build after it would run again.
        File.SetLastWriteTimeUtc(data, DateTime.UtcNow);
        Assert.Contains("Compression: models/external.onnx:", Build("build"));
        Assert.Contains("Skipping target \"CompressModels\" because all output files are up-to-date", Build("build"));

        // Deleted, the file is no longer listed, so no listed file is newer: the changed list makes the build run and fail.
        File.Delete(data);
        var (exitCode, output) = PackageFixture.Dotnet(project, "build", "--packages", package.Packages, "-v:n");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("error CMP2006", output);
    }

    private void Consumer(params (string Model, string Recipe)[] items)
    {
        var mnist = Path.Combine(PackageFixture.SharedAssets, "mnist", "mnist-8.onnx");
        Skip.IfNot(File.Exists(mnist), $"mnist-8 is not available here ({mnist}).");
        Directory.CreateDirectory(Path.Combine(project, "models"));
        File.Copy(mnist, Path.Combine(project, "models", "mnist-8.onnx"));
        Write("nuget.config", $"""<configuration><packageSources><clear /><add key="local" value="{package.Feed}" /></packageSources></configuration>""");
        Write("Program.cs", "System.Console.WriteLine(\"consumer\");\n");
        Write("Consumer.csproj", $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Compression.Build" Version="{package.Version}" PrivateAssets="all" />
                {string.Join("\n    ", items.Select(i => $"<CompressModel Include=\"{i.Model}\" Recipe=\"{i.Recipe}\" />"))}
              </ItemGroup>
            </Project>
            """);
    }

    private string Build(string verb, params string[] extra) => Build(verb, noRestoreSwitches: false, extra);

    private string Build(string verb, bool noRestoreSwitches, params string[] extra)
    {
        // clean does not restore, so it takes no --packages.
        string[] restore = noRestoreSwitches ? [] : ["--packages", package.Packages];
        var (exitCode, output) = PackageFixture.Dotnet(project, [verb, .. restore, "-v:n", .. extra]);
        Assert.True(exitCode == 0, $"dotnet {verb} failed:\n{output}");
        return output;
    }

    private void Write(string relative, string text)
    {
        var path = Path.Combine(project, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
