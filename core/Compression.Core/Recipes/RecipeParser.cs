using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Recipes.Search;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Compression.Core.Recipes;

/// <summary>
/// Reads and validates a recipe before any work: YAML syntax, unknown keys (with "did you mean"), types,
/// ranges, missing keys, unknown steps, references to undefined data sets, missing data files and output
/// names. All problems are reported together, each with the recipe file, line and column.
/// </summary>
public static class RecipeParser
{
    private const string StepsKey = "steps";
    private const string DataKey = "data";
    private const string SearchKey = "search";

    /// <summary>
    /// Parses a recipe file; throws <see cref="CompressionException"/> with every error found. Its warnings (an
    /// option the step ignores, ...) go to <paramref name="log"/>.
    /// </summary>
    public static Recipe Load(string path, ICompressionLog? log = null)
    {
        var (recipe, diagnostics) = Validate(path);
        if (recipe is null || diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            throw new CompressionException(diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList());
        }

        foreach (var warning in diagnostics)
        {
            log?.Report(warning);
        }

        return recipe;
    }

    /// <summary>Reads a small YAML file that describes one data set (the keys of a recipe's data entries).</summary>
    public static DataSetSpec LoadDataSet(string path)
    {
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.RecipeNotFound, "The data description file does not exist.", fullPath));
        }

        var diagnostics = new List<Diagnostic>();
        var yaml = LoadYaml(File.ReadAllText(fullPath), fullPath, "data description", diagnostics) ?? throw new CompressionException(diagnostics);
        var root = yaml.Documents.Count == 0 ? null : yaml.Documents[0].RootNode as YamlMappingNode;
        if (root is null)
        {
            throw new CompressionException(Diagnostic.Error(ErrorCodes.RecipeWrongType, "A data description is a mapping of data set keys (format, path, labels, ...).", fullPath, 1, 1));
        }

        var spec = (DataSetSpec)new OptionBinder(fullPath, diagnostics).Record(root, typeof(DataSetSpec), "data set");
        return diagnostics.Count == 0 ? spec : throw new CompressionException(diagnostics);
    }

    /// <summary>Parses and validates; returns the recipe (null when it could not be read at all) and every diagnostic.</summary>
    public static (Recipe? Recipe, IReadOnlyList<Diagnostic> Diagnostics) Validate(string path)
    {
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            var what = Directory.Exists(fullPath) ? "is a directory, not a recipe file" : "does not exist";
            return (null, [Diagnostic.Error(ErrorCodes.RecipeNotFound, $"The recipe file {what}.", fullPath)]);
        }

        return Parse(File.ReadAllText(fullPath), fullPath, Path.GetDirectoryName(fullPath)!);
    }

    /// <summary>Parses recipe text; <paramref name="file"/> names it in diagnostics, paths resolve against <paramref name="baseDirectory"/>.</summary>
    public static (Recipe? Recipe, IReadOnlyList<Diagnostic> Diagnostics) Parse(string text, string? file, string baseDirectory)
    {
        var diagnostics = new List<Diagnostic>();
        if (LoadYaml(text, file, "recipe", diagnostics) is not { } yaml)
        {
            return (null, diagnostics);
        }

        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            var node = yaml.Documents.Count == 0 ? null : yaml.Documents[0].RootNode;
            diagnostics.Add(Diagnostic.Error(ErrorCodes.RecipeWrongType, "A recipe is a mapping of keys (version, data, steps, evaluate, gates, output).", file,
                (int?)node?.Start.Line ?? 1, (int?)node?.Start.Column ?? 1));
            return (null, diagnostics);
        }

        var binder = new OptionBinder(file, diagnostics);
        // Steps are a list of single-key mappings naming passes; everything else binds by the Recipe type.
        var stepsNode = root.Children.FirstOrDefault(p => ((YamlScalarNode)p.Key).Value == StepsKey);
        // The search space's keys are paths into the steps: it is read after them, the rest of search binds by type.
        var searchNode = root.Children.FirstOrDefault(p => ((YamlScalarNode)p.Key).Value == SearchKey).Value as YamlMappingNode;
        var rest = new YamlMappingNode(root.Children.Where(p => ((YamlScalarNode)p.Key).Value != StepsKey).Select(p => ((YamlScalarNode)p.Key).Value == SearchKey && searchNode is not null
            ? new KeyValuePair<YamlNode, YamlNode>(p.Key, new YamlMappingNode(searchNode.Children.Where(s => ((YamlScalarNode)s.Key).Value != Search.SearchSpaceParser.SpaceKey)))
            : p));
        var recipe = (Recipe)binder.Record(rest, typeof(Recipe), "", [StepsKey]);
        recipe = recipe with
        {
            Steps = stepsNode.Value is null ? [] : BindSteps(stepsNode.Value, binder),
            File = file,
            BaseDirectory = baseDirectory,
        };
        if (recipe.Search is { } search && searchNode is not null)
        {
            recipe = recipe with { Search = Search.SearchSpaceParser.Complete(search, searchNode, recipe, binder) };
        }

        WarnIgnoredOptions(recipe, root, binder);
        CheckReferences(recipe, root, binder);
        CheckDataFiles(recipe, root, binder);
        CheckOutput(recipe, root, binder);
        return (recipe, diagnostics);
    }

    /// <summary>
    /// Reads the YAML text into nodes; null with a CMP1002 (syntax), CMP1090 (nesting) or CMP1004 (a key that is no
    /// name) diagnostic when the text cannot be a recipe at all. After this every mapping key is a scalar, which
    /// the binders rely on.
    /// </summary>
    private static YamlStream? LoadYaml(string text, string? file, string what, List<Diagnostic> diagnostics)
    {
        var parser = new DepthLimitedParser(new Parser(new StringReader(text)));
        var yaml = new YamlStream();
        try
        {
            yaml.Load(parser);
        }
        catch (YamlException e)
        {
            diagnostics.Add(Diagnostic.Error(ErrorCodes.RecipeSyntax, $"The {what} is not valid YAML: {e.InnerException?.Message ?? e.Message}", file, (int)e.Start.Line, (int)e.Start.Column));
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet 18.1 throws these instead of a YamlException on some malformed text (": [\nr", "#\0: a",
            // found by fuzzing); they come from its scanner and loader, so they are about the text too.
            var at = parser.Current?.End;
            diagnostics.Add(Diagnostic.Error(ErrorCodes.RecipeSyntax, $"The {what} is not valid YAML: the YAML reader stopped after line {at?.Line ?? 1}, column {at?.Column ?? 1}.",
                file, (int?)at?.Line ?? 1, (int?)at?.Column ?? 1));
            return null;
        }
        catch (DepthLimitedParser.TooDeepException e)
        {
            diagnostics.Add(Diagnostic.Error(ErrorCodes.RecipeTooDeep,
                $"The {what} nests lists and mappings more than {DepthLimitedParser.MaxDepth} levels deep; a recipe needs a handful.", file, (int)e.At.Line, (int)e.At.Column));
            return null;
        }

        if (yaml.Documents.Count > 0 && FirstComplexKey(yaml.Documents[0].RootNode) is { } key)
        {
            diagnostics.Add(Diagnostic.Error(ErrorCodes.RecipeWrongType,
                $"A key of the {what} is {(key is YamlSequenceNode ? "a list" : "a mapping")}; keys are names.", file, (int)key.Start.Line, (int)key.Start.Column));
            return null;
        }

        return yaml;
    }

    /// <summary>The first mapping key that is not a scalar; each node is visited once, however many aliases name it.</summary>
    private static YamlNode? FirstComplexKey(YamlNode root)
    {
        var seen = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<YamlNode>([root]);
        while (pending.TryPop(out var node))
        {
            if (!seen.Add(node))
            {
                continue;
            }

            switch (node)
            {
                case YamlMappingNode map:
                    foreach (var (key, value) in map.Children)
                    {
                        if (key is not YamlScalarNode)
                        {
                            return key;
                        }

                        pending.Push(value);
                    }

                    break;
                case YamlSequenceNode sequence:
                    sequence.Children.ToList().ForEach(pending.Push);
                    break;
            }
        }

        return null;
    }

    /// <summary>
    /// Refuses YAML nested deeper than a recipe ever is before YamlDotNet's loader, which recurses once per level,
    /// overflows the stack (a stack overflow cannot be caught: it ends the process, PowerShell's or MSBuild's).
    /// </summary>
    private sealed class DepthLimitedParser(IParser inner) : IParser
    {
        public const int MaxDepth = 64;

        private int depth;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext())
            {
                return false;
            }

            switch (inner.Current)
            {
                case MappingStart or SequenceStart when ++depth > MaxDepth:
                    throw new TooDeepException(inner.Current.Start);
                case MappingEnd or SequenceEnd:
                    depth--;
                    break;
            }

            return true;
        }

        public sealed class TooDeepException(Mark at) : Exception
        {
            public Mark At => at;
        }
    }

    private static List<RecipeStep> BindSteps(YamlNode node, OptionBinder binder)
    {
        var steps = new List<RecipeStep>();
        if (node is YamlScalarNode { Value: null or "" })
        {
            return steps;
        }

        if (node is not YamlSequenceNode sequence)
        {
            binder.Add(ErrorCodes.RecipeWrongType, "steps must be a list, each item naming one pass (e.g. '- quantize: { mode: dynamic }').", node);
            return steps;
        }

        foreach (var item in sequence)
        {
            var (key, options) = item switch
            {
                YamlMappingNode { Children.Count: 1 } map => ((YamlScalarNode)map.Children.First().Key, map.Children.First().Value),
                YamlScalarNode scalar => (scalar, null),
                _ => (null, null),
            };
            if (key is null)
            {
                binder.Add(ErrorCodes.RecipeWrongType, "Each step names one pass: '- <pass>: { options }'.", item);
                continue;
            }

            var pass = PassRegistry.Find(key.Value ?? "");
            if (pass is null)
            {
                var suggestion = OptionBinder.Suggest(key.Value ?? "", PassRegistry.All.Select(p => p.Name));
                binder.Add(ErrorCodes.RecipeUnknownStep, $"Unknown step '{key.Value}'.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")} " +
                    $"Steps: {string.Join(", ", PassRegistry.All.Select(p => p.Name))}.", key);
                continue;
            }

            var errors = binder.ErrorCount;
            var bound = options is null or YamlScalarNode { Value: null or "" }
                ? Activator.CreateInstance(pass.OptionsType)
                : binder.Bind(options, pass.OptionsType, $"step '{pass.Name}'");
            if (bound is PassOptions passOptions)
            {
                steps.Add(new RecipeStep(pass, passOptions, (int)key.Start.Line, (int)key.Start.Column));
                if (binder.ErrorCount == errors)
                {
                    CheckOptions(pass.Name, passOptions, options as YamlMappingNode, key, binder);
                }
            }
        }

        return steps;
    }

    /// <summary>Each key of a step's options mapping by name.</summary>
    private static Dictionary<string, YamlNode> OptionKeys(YamlMappingNode? map)
    {
        var keys = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var key in map?.Children.Keys ?? [])
        {
            keys.TryAdd(((YamlScalarNode)key).Value ?? "", key); // a key given twice is CMP1011 already
        }

        return keys;
    }

    /// <summary>Each problem of a step's options together (<see cref="ICheckedOptions"/>), once they bound cleanly, at its option's key.</summary>
    private static void CheckOptions(string step, PassOptions options, YamlMappingNode? map, YamlNode stepKey, OptionBinder binder)
    {
        var keys = OptionKeys(map);
        if (options is not ICheckedOptions checkedOptions)
        {
            return;
        }

        foreach (var problem in checkedOptions.Problems())
        {
            var node = keys.GetValueOrDefault(problem.Option.Split('.')[0]) ?? stepKey;
            if (problem.Severity == DiagnosticSeverity.Error)
            {
                binder.Add(problem.Code, $"step '{step}': {problem.Message}", node);
            }
            else
            {
                binder.Warn(problem.Code, $"step '{step}': {problem.Message}", node);
            }
        }
    }

    /// <summary>
    /// A given option the step's other options do not read is a warning (CMP1010) at its key, unless the search varies
    /// the option that governs it (then some trials read it).
    /// </summary>
    private static void WarnIgnoredOptions(Recipe recipe, YamlMappingNode root, OptionBinder binder)
    {
        var searched = recipe.Search?.Space.Dimensions.SelectMany(d => d.Paths).Select(p => (p.Step, p.Segments[0].Property.Name)).ToHashSet() ?? [];
        for (var i = 0; i < recipe.Steps.Count; i++)
        {
            var step = recipe.Steps[i];
            var keys = OptionKeys((FindStep(root, step) as YamlMappingNode)?.Children.FirstOrDefault().Value as YamlMappingNode);
            var given = OptionBinder.Options(step.Options.GetType()).Where(p => keys.ContainsKey(OptionNames.SnakeCase(p.Name))).Select(p => p.Name);
            foreach (var (option, governing, reason) in OptionChecks.Ignored(step.Options, given))
            {
                if (!searched.Contains((i, governing)))
                {
                    binder.Warn(ErrorCodes.RecipeOptionIgnored, $"step '{step.Pass.Name}': {reason}", keys[option]);
                }
            }
        }
    }

    /// <summary>evaluate.data, and every option marked as naming a data set, must name a defined data set.</summary>
    private static void CheckReferences(Recipe recipe, YamlMappingNode root, OptionBinder binder)
    {
        if (recipe.Evaluate is { Data: { } evaluated } && !recipe.Data.ContainsKey(evaluated))
        {
            binder.Add(ErrorCodes.RecipeUnknownDataSet, UnknownDataSet("evaluate.data", evaluated, recipe), Find(root, "evaluate", "data") ?? root);
        }

        foreach (var step in recipe.Steps)
        {
            foreach (var (where, name) in DataSetReferences(step.Options, $"step '{step.Pass.Name}'"))
            {
                if (!recipe.Data.ContainsKey(name))
                {
                    binder.Add(ErrorCodes.RecipeUnknownDataSet, UnknownDataSet(where, name, recipe), FindStep(root, step) ?? root);
                }
            }
        }
    }

    /// <summary>Each data set is opened (not read) so that a missing or unreadable file is an error now, not mid-run.</summary>
    private static void CheckDataFiles(Recipe recipe, YamlMappingNode root, OptionBinder binder)
    {
        foreach (var (name, spec) in recipe.Data)
        {
            if (spec is null)
            {
                continue;
            }

            try
            {
                DataSourceFactory.Create(spec with { Name = spec.Name ?? name }, recipe.BaseDirectory);
            }
            catch (CompressionException e)
            {
                var node = Find(root, DataKey, name) ?? root;
                foreach (var diagnostic in e.Diagnostics)
                {
                    binder.Add(diagnostic.Code, $"Data set '{name}': {diagnostic.Message}{(diagnostic.File is null ? "" : $" ({diagnostic.File})")}", node);
                }
            }
        }
    }

    private static void CheckOutput(Recipe recipe, YamlMappingNode root, OptionBinder binder)
    {
        var output = recipe.Output;
        var unknown = System.Text.RegularExpressions.Regex.Matches(output, @"\{([^}]*)\}").Select(m => m.Groups[1].Value).Where(v => v != "name").ToList();
        var node = Find(root, "output") ?? root;
        if (unknown.Count > 0)
        {
            binder.Add(ErrorCodes.RecipeBadOutput, $"output uses {{{string.Join("}, {", unknown)}}}; the only placeholder is {{name}}.", node);
        }

        if (!output.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || output.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
        {
            binder.Add(ErrorCodes.RecipeBadOutput, $"output '{output}' must be a file name ending in .onnx.", node);
        }
    }

    /// <summary>Options whose [DataSet] attribute says they name a data set, searched through nested option records.</summary>
    internal static IEnumerable<(string Where, string Name)> DataSetReferences(object options, string where)
    {
        foreach (var property in OptionBinder.Options(options.GetType()))
        {
            var value = property.GetValue(options);
            var key = $"{where}.{OptionNames.SnakeCase(property.Name)}";
            if (value is string name && property.GetCustomAttributes(typeof(DataSetAttribute), true).Length > 0)
            {
                yield return (key, name);
            }
            else if (value is not null && value is not string && property.PropertyType.IsClass && OptionBinder.Options(property.PropertyType).Count > 0)
            {
                foreach (var inner in DataSetReferences(value, key))
                {
                    yield return inner;
                }
            }
        }
    }

    private static string UnknownDataSet(string where, string name, Recipe recipe)
    {
        var suggestion = OptionBinder.Suggest(name, recipe.Data.Keys);
        return $"{where} names the data set '{name}', which the recipe does not define under 'data'." +
            (suggestion is null ? "" : $" Did you mean '{suggestion}'?") +
            (recipe.Data.Count == 0 ? "" : $" Defined: {string.Join(", ", recipe.Data.Keys)}.");
    }

    private static YamlNode? Find(YamlMappingNode root, params string[] keys)
    {
        YamlNode current = root;
        foreach (var key in keys)
        {
            if (current is not YamlMappingNode map)
            {
                return null;
            }

            var pair = map.Children.FirstOrDefault(p => ((YamlScalarNode)p.Key).Value == key);
            if (pair.Key is null)
            {
                return null;
            }

            current = pair.Value;
        }

        return current;
    }

    private static YamlNode? FindStep(YamlMappingNode root, RecipeStep step) =>
        (Find(root, StepsKey) as YamlSequenceNode)?.Children.FirstOrDefault(n => n.Start.Line == step.Line);
}
