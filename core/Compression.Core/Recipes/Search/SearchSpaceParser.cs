using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Compression.Core.Diagnostics;
using Compression.Core.Options;
using Compression.Core.Recipes;
using YamlDotNet.RepresentationModel;

namespace Compression.Core.Recipes.Search;

/// <summary>
/// Reads a recipe's <c>search</c> section once its steps are bound: each key of <c>space</c> is a path into the
/// steps' options (or a name with <c>paths:</c>, or <c>order</c>: orders of the steps), each value a list, a range or
/// a mapping of those; then the
/// objectives, constraints and budget. Every problem is a diagnostic with its line and column, before any trial.
/// </summary>
internal static partial class SearchSpaceParser
{
    public const string SpaceKey = "space";

    /// <summary>The reserved space key whose values are orders of the recipe's steps.</summary>
    public const string OrderKey = "order";

    private static readonly string[] DimensionKeys = ["values", "min", "max", "step", "log", "path", "paths", "when", "start"];

    public static SearchSpec Complete(SearchSpec spec, YamlMappingNode searchNode, Recipe recipe, OptionBinder binder)
    {
        var spaceNode = searchNode.Children.FirstOrDefault(p => ((YamlScalarNode)p.Key).Value == SpaceKey).Value;
        var space = spaceNode is null
            ? Fail(binder, ErrorCodes.SearchSpaceEmpty, "search needs a 'space': the options to vary, e.g. 'quantize.bits: [4, 8]'.", searchNode)
            : Space(spaceNode, recipe, binder);
        var objectives = spec.Objectives.Select((text, i) => ParseObjective(text, binder, Item(searchNode, "objectives", i))).ToList();
        if (spec.Objectives.Count == 0)
        {
            binder.Add(ErrorCodes.SearchUnknownMetric, "search.objectives is empty: name at least one, e.g. 'minimize size'.", Find(searchNode, "objectives") ?? searchNode);
        }

        var constraints = spec.Constraints.Select((text, i) => ParseConstraint(text, binder, Item(searchNode, "constraints", i))).ToList();
        CheckBudget(spec.Budget, binder, Find(searchNode, "budget") ?? searchNode);
        CheckData(spec, recipe, objectives.OfType<Objective>().Select(o => o.Metric).Concat(constraints.OfType<Constraint>().Select(c => c.Metric)), binder, searchNode);
        if (spec.Strategy == SearchStrategy.Grid && space.Dimensions.FirstOrDefault(d => d.IsContinuous) is { } continuous)
        {
            binder.Add(ErrorCodes.SearchGridNeedsSteps, $"The grid strategy needs finite dimensions; '{continuous.Name}' is a range without step. Give it a step or a list of values, or use random, tpe or evolutionary.",
                Find(searchNode, "strategy") ?? searchNode);
        }

        return spec with
        {
            Space = space,
            ParsedObjectives = objectives.OfType<Objective>().ToList(),
            ParsedConstraints = constraints.OfType<Constraint>().ToList(),
        };
    }

    private static SearchSpace Space(YamlNode node, Recipe recipe, OptionBinder binder)
    {
        if (node is not YamlMappingNode map || map.Children.Count == 0)
        {
            return Fail(binder, ErrorCodes.SearchSpaceEmpty, "search.space is empty: give at least one option to vary, e.g. 'quantize.block_size: [32, 64, 128]'.", node);
        }

        var dimensions = new List<SearchDimension>();
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var name = ((YamlScalarNode)keyNode).Value ?? "";
            if (Dimension(name, keyNode, valueNode, recipe, dimensions, binder) is { } dimension)
            {
                dimensions.Add(dimension);
            }
        }

        return new SearchSpace(dimensions);
    }

    private static SearchDimension? Dimension(string name, YamlNode keyNode, YamlNode node, Recipe recipe, List<SearchDimension> earlier, OptionBinder binder)
    {
        var settings = node as YamlMappingNode;
        if (settings is not null)
        {
            foreach (var (key, _) in settings.Children)
            {
                var text = ((YamlScalarNode)key).Value ?? "";
                if (!DimensionKeys.Contains(text))
                {
                    var suggestion = OptionBinder.Suggest(text, DimensionKeys);
                    binder.Add(ErrorCodes.RecipeUnknownKey, $"Unknown key '{text}' in search dimension '{name}'.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")} Known keys: {string.Join(", ", DimensionKeys)}.", key);
                    return null;
                }
            }
        }

        // The order of the steps is no option: its values are lists of step names, listed only.
        var isOrder = name == OrderKey;
        if (isOrder && settings?.Children.FirstOrDefault(p => ((YamlScalarNode)p.Key).Value is not ("values" or "when" or "start")).Key is { } notForOrder)
        {
            binder.Add(ErrorCodes.SearchBadOrder, $"search.space.order takes values (orders of the steps), when and start; not '{((YamlScalarNode)notForOrder).Value}'.", notForOrder);
            return null;
        }

        // The key is the path, unless path/paths say where the values go (then the key only names the dimension).
        var pathNodes = settings is null ? null : Find(settings, "paths") is YamlSequenceNode many ? many.Children.ToList() : Find(settings, "path") is { } one ? [one] : null;
        var paths = new List<OptionPath>();
        foreach (var pathNode in isOrder ? [] : pathNodes ?? [keyNode])
        {
            if (ResolvePath((pathNode as YamlScalarNode)?.Value ?? "", recipe, binder, pathNode) is { } path)
            {
                paths.Add(path);
            }
        }

        if (!isOrder && (paths.Count == 0 || paths.Count != (pathNodes?.Count ?? 1)))
        {
            if (pathNodes is { Count: 0 })
            {
                binder.Add(ErrorCodes.SearchSpaceEmpty, $"Search dimension '{name}' has an empty paths list.", keyNode);
            }

            return null;
        }

        if (paths.Select(p => p.ValueType).Distinct().Count() > 1)
        {
            binder.Add(ErrorCodes.SearchUnknownPath, $"The paths of search dimension '{name}' set options of different types ({string.Join(", ", paths.Select(p => $"{p.Text}: {p.ValueType.Name}"))}).", keyNode);
            return null;
        }

        var where = $"search.space.{name}";
        var valuesNode = settings is null ? node : Find(settings, "values");
        SearchDimension? dimension;
        if (valuesNode is not null)
        {
            if (valuesNode is not YamlSequenceNode sequence || sequence.Children.Count == 0)
            {
                binder.Add(ErrorCodes.SearchSpaceEmpty, $"Search dimension '{name}' needs a non-empty list of values (or a range: {{ min, max, step }}).", valuesNode);
                return null;
            }

            var choices = new List<SearchChoice>();
            foreach (var item in sequence.Children)
            {
                var value = isOrder ? Order(item, recipe, binder) : binder.Bind(item, paths[0].ValueType, where);
                if (value is null && (isOrder || item is not YamlScalarNode { Value: null or "" or "~" or "null" }))
                {
                    return null;
                }

                if (!isOrder && !InRange(paths[0], value, binder, item, where))
                {
                    return null;
                }

                var label = Label(item);
                if (choices.Any(c => c.Label == label))
                {
                    continue;
                }

                choices.Add(new SearchChoice(label, value));
            }

            dimension = new SearchDimension(name, paths, choices, null, null);
        }
        else if (Find(settings!, "min") is not null || Find(settings!, "max") is not null)
        {
            dimension = Range(name, settings!, paths[0], binder, where);
            if (dimension is null)
            {
                return null;
            }
        }
        else
        {
            binder.Add(ErrorCodes.SearchSpaceEmpty, $"Search dimension '{name}' gives no values: write a list, or 'values: [...]', or a range '{{ min, max, step }}'.", node);
            return null;
        }

        if (settings is not null && Find(settings, "start") is YamlScalarNode startNode)
        {
            var start = StartOf(dimension, startNode, binder, where);
            if (start is null)
            {
                return null;
            }

            dimension = dimension with { Start = start.Value };
        }

        if (settings is not null && Find(settings, "when") is { } whenNode)
        {
            var condition = Condition(name, whenNode, earlier, binder);
            if (condition is null)
            {
                return null;
            }

            dimension = dimension with { When = condition };
        }

        return dimension;
    }

    /// <summary>
    /// One value of <c>order</c>: a list naming every step of the recipe once (<c>quantize[2]</c> where a pass has
    /// several steps), bound to the steps' indices in the new order; null with a CMP4112 diagnostic otherwise.
    /// </summary>
    private static int[]? Order(YamlNode node, Recipe recipe, OptionBinder binder)
    {
        var steps = recipe.Steps.Select((step, i) => Occurrence(recipe, i)).ToList();
        var recipeOrder = $"the recipe's steps are {string.Join(", ", steps)}";
        if (node is not YamlSequenceNode list || list.Children.Any(c => c is not YamlScalarNode))
        {
            return Fail<int[]?>(binder, ErrorCodes.SearchBadOrder, $"A value of search.space.order is a list of step names, e.g. [{string.Join(", ", steps.AsEnumerable().Reverse())}]; {recipeOrder}.", node);
        }

        var order = new List<int>();
        foreach (var item in list.Children.Cast<YamlScalarNode>())
        {
            var name = item.Value ?? "";
            var index = steps.IndexOf(name);
            if (index < 0 && steps.IndexOf(name + "[1]") >= 0)
            {
                return Fail<int[]?>(binder, ErrorCodes.SearchBadOrder, $"search.space.order: the recipe has several '{name}' steps; say which, {string.Join(" or ", steps.Where(s => s.StartsWith(name + "[", StringComparison.Ordinal)))}.", item);
            }

            if (index < 0)
            {
                var suggestion = OptionBinder.Suggest(name, steps);
                return Fail<int[]?>(binder, ErrorCodes.SearchBadOrder, $"search.space.order names '{name}', which is not a step of the recipe.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")} {char.ToUpperInvariant(recipeOrder[0])}{recipeOrder[1..]}.", item);
            }

            if (order.Contains(index))
            {
                return Fail<int[]?>(binder, ErrorCodes.SearchBadOrder, $"search.space.order names '{name}' twice in {Label(node)}: each step runs once.", item);
            }

            order.Add(index);
        }

        if (order.Count < steps.Count)
        {
            var missing = steps.Where((_, i) => !order.Contains(i));
            return Fail<int[]?>(binder, ErrorCodes.SearchBadOrder, $"search.space.order: {Label(node)} leaves out {string.Join(", ", missing)}; each value orders every step ({recipeOrder}).", node);
        }

        return [.. order];
    }

    /// <summary>A step as an order names it: the pass name, with [n] counted from 1 when the recipe has several.</summary>
    private static string Occurrence(Recipe recipe, int index)
    {
        var name = recipe.Steps[index].Pass.Name;
        var same = recipe.Steps.Count(s => s.Pass.Name == name);
        return same == 1 ? name : $"{name}[{recipe.Steps.Take(index + 1).Count(s => s.Pass.Name == name)}]";
    }

    private static SearchDimension? Range(string name, YamlMappingNode settings, OptionPath path, OptionBinder binder, string where)
    {
        var type = Nullable.GetUnderlyingType(path.ValueType) ?? path.ValueType;
        if (type != typeof(int) && type != typeof(long) && type != typeof(double))
        {
            binder.Add(ErrorCodes.SearchBadRange, $"Search dimension '{name}': a range needs a numeric option; {path.Text} takes {type.Name}. List its values instead.", settings);
            return null;
        }

        var min = Number(Find(settings, "min"), binder, $"{where}.min");
        var max = Number(Find(settings, "max"), binder, $"{where}.max");
        var step = Find(settings, "step") is { } stepNode ? Number(stepNode, binder, $"{where}.step") : null;
        var log = Find(settings, "log") is YamlScalarNode { Value: "true" or "yes" or "on" };
        if (min is null || max is null)
        {
            if (Find(settings, "min") is null || Find(settings, "max") is null)
            {
                binder.Add(ErrorCodes.SearchBadRange, $"Search dimension '{name}': a range needs both min and max.", settings);
            }

            return null;
        }

        if (min > max)
        {
            binder.Add(ErrorCodes.SearchBadRange, $"Search dimension '{name}': min {Text(min.Value)} is greater than max {Text(max.Value)}.", Find(settings, "min")!);
            return null;
        }

        if (log && min <= 0)
        {
            binder.Add(ErrorCodes.SearchBadRange, $"Search dimension '{name}': a log range needs min > 0, not {Text(min.Value)}.", Find(settings, "min")!);
            return null;
        }

        if (step is { } s && (log ? s <= 1 : s <= 0))
        {
            binder.Add(ErrorCodes.SearchBadRange, log
                ? $"Search dimension '{name}': the step of a log range is a factor above 1 (2 doubles each time), not {Text(s)}."
                : $"Search dimension '{name}': step must be above 0, not {Text(s)}.", Find(settings, "step")!);
            return null;
        }

        var integer = type != typeof(double);
        if (!InRange(path, min, binder, Find(settings, "min")!, where) || !InRange(path, max, binder, Find(settings, "max")!, where))
        {
            return null;
        }

        if (step is null)
        {
            return new SearchDimension(name, [path], [], new SearchRange(min.Value, max.Value, log, integer), null);
        }

        var choices = new List<SearchChoice>();
        for (var i = 0; ; i++)
        {
            var value = log ? min.Value * Math.Pow(step.Value, i) : min.Value + i * step.Value;
            if (value > max.Value * (1 + 1e-9) + 1e-12 || choices.Count > 10_000)
            {
                break;
            }

            value = integer ? Math.Round(value) : Math.Round(value, 10);
            object boxed = type == typeof(int) ? (object)(int)value : type == typeof(long) ? (long)value : value;
            if (choices.All(c => c.Label != Text(value)))
            {
                choices.Add(new SearchChoice(Text(value), boxed));
            }
        }

        return new SearchDimension(name, [path], choices, null, null);
    }

    private static double? StartOf(SearchDimension dimension, YamlScalarNode node, OptionBinder binder, string where)
    {
        if (dimension.Range is { } range)
        {
            return Number(node, binder, $"{where}.start") is { } value && value >= range.Min && value <= range.Max
                ? range.UnitOf(value)
                : Fail<double?>(binder, ErrorCodes.SearchBadCondition, $"{where}.start must be a number within the range [{Text(range.Min)}, {Text(range.Max)}].", node);
        }

        var index = dimension.Choices.ToList().FindIndex(c => c.Label == Label(node));
        return index >= 0 ? index
            : Fail<double?>(binder, ErrorCodes.SearchBadCondition, $"{where}.start is '{node.Value}', which is not one of its values ({string.Join(", ", dimension.Choices.Select(c => c.Label))}).", node);
    }

    private static SearchCondition? Condition(string name, YamlNode node, List<SearchDimension> earlier, OptionBinder binder)
    {
        if (node is not YamlMappingNode { Children.Count: 1 } map)
        {
            return Fail<SearchCondition?>(binder, ErrorCodes.SearchBadCondition, $"Search dimension '{name}': when names one earlier dimension and its values, e.g. 'when: {{ quantize.mode: static }}'.", node);
        }

        var (keyNode, valuesNode) = map.Children.First();
        var other = ((YamlScalarNode)keyNode).Value ?? "";
        var index = earlier.FindIndex(d => d.Name == other);
        if (index < 0 || earlier[index].IsContinuous)
        {
            var suggestion = OptionBinder.Suggest(other, earlier.Select(d => d.Name));
            return Fail<SearchCondition?>(binder, ErrorCodes.SearchBadCondition,
                $"Search dimension '{name}': when names '{other}', which is not a dimension with listed values defined before it.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")}", keyNode);
        }

        var labels = valuesNode is YamlSequenceNode list ? list.Children.Select(Label).ToList() : [Label(valuesNode)];
        var choices = new HashSet<int>();
        foreach (var label in labels)
        {
            var choice = earlier[index].Choices.ToList().FindIndex(c => c.Label == label);
            if (choice < 0)
            {
                return Fail<SearchCondition?>(binder, ErrorCodes.SearchBadCondition,
                    $"Search dimension '{name}': when '{other}' is '{label}', which is not one of its values ({string.Join(", ", earlier[index].Choices.Select(c => c.Label))}).", valuesNode);
            }

            choices.Add(choice);
        }

        return new SearchCondition(index, choices);
    }

    /// <summary>Resolves <c>step[n].option[key].option...</c> against the recipe's steps and their options types.</summary>
    private static OptionPath? ResolvePath(string text, Recipe recipe, OptionBinder binder, YamlNode node)
    {
        var parts = PathPart().Matches(text).Select(m => (Name: m.Groups[1].Value, Key: m.Groups[2].Success ? m.Groups[2].Value : null)).ToList();
        if (parts.Count < 2 || string.Join(".", parts.Select(p => p.Key is null ? p.Name : $"{p.Name}[{p.Key}]")) != text)
        {
            return Fail<OptionPath?>(binder, ErrorCodes.SearchUnknownPath,
                $"'{text}' is not an option path: write <step>.<option>, e.g. quantize.bits, quantize.calibration.method, quantize.layers[MatMul_12].bits, quantize.exclude[Softmax].", node);
        }

        var (stepName, occurrenceText) = parts[0];
        var matching = recipe.Steps.Select((s, i) => (Step: s, Index: i)).Where(s => s.Step.Pass.Name == stepName).ToList();
        if (matching.Count == 0)
        {
            var suggestion = OptionBinder.Suggest(stepName, recipe.Steps.Select(s => s.Pass.Name));
            return Fail<OptionPath?>(binder, ErrorCodes.SearchUnknownPath,
                $"'{text}': the recipe has no '{stepName}' step.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")} Steps: {string.Join(", ", recipe.Steps.Select(s => s.Pass.Name))}.", node);
        }

        var occurrence = 1;
        if (occurrenceText is not null && (!int.TryParse(occurrenceText, NumberStyles.None, CultureInfo.InvariantCulture, out occurrence) || occurrence < 1 || occurrence > matching.Count))
        {
            return Fail<OptionPath?>(binder, ErrorCodes.SearchUnknownPath, $"'{text}': the recipe has {matching.Count} '{stepName}' step(s); [n] counts them from 1.", node);
        }

        if (occurrenceText is null && matching.Count > 1)
        {
            return Fail<OptionPath?>(binder, ErrorCodes.SearchUnknownPath, $"'{text}': the recipe has {matching.Count} '{stepName}' steps; say which, e.g. {stepName}[2].{string.Join(".", parts.Skip(1).Select(p => p.Name))}.", node);
        }

        var type = matching[occurrence - 1].Step.Options.GetType();
        var segments = new List<PathSegment>();
        for (var i = 1; i < parts.Count; i++)
        {
            var (name, key) = parts[i];
            var options = OptionBinder.Options(type);
            var property = options.FirstOrDefault(p => OptionNames.SnakeCase(p.Name) == name);
            if (property is null)
            {
                var suggestion = OptionBinder.Suggest(name, options.Select(p => OptionNames.SnakeCase(p.Name)));
                return Fail<OptionPath?>(binder, ErrorCodes.SearchUnknownPath,
                    $"'{text}': '{name}' is not an option there.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")} Options: {string.Join(", ", options.Select(p => OptionNames.SnakeCase(p.Name)))}.", node);
            }

            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var last = i == parts.Count - 1;
            PathSegmentKind kind;
            if (key is not null && OptionBinder.Dictionary(propertyType) is { } valueType)
            {
                kind = PathSegmentKind.Entry;
                type = valueType;
            }
            else if (key is not null && OptionBinder.Element(propertyType) == typeof(string) && last)
            {
                kind = PathSegmentKind.Member;
            }
            else if (key is not null)
            {
                return Fail<OptionPath?>(binder, ErrorCodes.SearchUnknownPath, $"'{text}': [{key}] applies to a map option (an entry) or, last, to a list of names (membership); '{name}' is neither.", node);
            }
            else
            {
                kind = PathSegmentKind.Option;
                if (!last && OptionBinder.Options(propertyType).Count == 0)
                {
                    return Fail<OptionPath?>(binder, ErrorCodes.SearchUnknownPath, $"'{text}': '{name}' has no options inside it.", node);
                }

                type = propertyType;
            }

            segments.Add(new PathSegment(property, kind, key));
        }

        return new OptionPath(text, matching[occurrence - 1].Index, segments) { Position = ((int)node.Start.Line, (int)node.Start.Column) };
    }

    private static bool InRange(OptionPath path, object? value, OptionBinder binder, YamlNode node, string where)
    {
        if (path.RangeProperty?.GetCustomAttributes(typeof(OptionAttribute), true).FirstOrDefault() is not OptionAttribute option
            || value is not (int or long or double))
        {
            return true;
        }

        var x = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        if (!OptionBinder.InRange(option, x))
        {
            binder.Add(ErrorCodes.SearchValueOutOfRange, $"{where}: {Text(x)} is outside the range of {path.Text}, {OptionBinder.Range(option)}.", node);
            return false;
        }

        if (!OptionBinder.Allows(option, x))
        {
            binder.Add(ErrorCodes.SearchValueOutOfRange, $"{where}: {Text(x)} is not a value of {path.Text}, which takes {OptionBinder.Choices(option)}.", node);
            return false;
        }

        return true;
    }

    private static object? ParseObjective(string text, OptionBinder binder, YamlNode node)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var (direction, name) = words.Length == 2 ? (words[0], words[1]) : words.Length == 1 ? (null, words[0]) : ("?", text);
        var metric = SearchMetric.Find(name);
        if (metric is null || direction is not (null or "minimize" or "maximize"))
        {
            return Fail<object?>(binder, ErrorCodes.SearchUnknownMetric, metric is null
                ? $"Objective '{text}': unknown metric '{name}'.{Suggestion(name)} Metrics: {string.Join(", ", SearchMetric.All.Select(m => m.Name))}."
                : $"Objective '{text}': write 'minimize {name}' or 'maximize {name}'.", node);
        }

        return new Objective(metric, direction is null ? !metric.HigherIsBetter : direction == "minimize");
    }

    private static object? ParseConstraint(string text, OptionBinder binder, YamlNode node)
    {
        var match = ConstraintPattern().Match(text);
        if (!match.Success)
        {
            return Fail<object?>(binder, ErrorCodes.SearchUnknownMetric, $"Constraint '{text}' is not '<metric> <= <number>' or '<metric> >= <number>' (e.g. 'accuracy_drop <= 0.002', 'size <= 12 MB').", node);
        }

        var name = match.Groups[1].Value;
        var metric = SearchMetric.Find(name);
        if (metric is null)
        {
            return Fail<object?>(binder, ErrorCodes.SearchUnknownMetric, $"Constraint '{text}': unknown metric '{name}'.{Suggestion(name)} Metrics: {string.Join(", ", SearchMetric.All.Select(m => m.Name))}.", node);
        }

        var limit = double.Parse(match.Groups[3].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
        var unit = match.Groups[4].Value.ToUpperInvariant();
        if (unit.Length > 0 && metric.Name != "size")
        {
            return Fail<object?>(binder, ErrorCodes.SearchUnknownMetric, $"Constraint '{text}': only size takes a unit (B, KB, MB, GB).", node);
        }

        limit *= unit switch { "KB" => 1e3, "MB" => 1e6, "GB" => 1e9, _ => 1 };
        return new Constraint(metric, match.Groups[2].Value.StartsWith('<'), limit, text);
    }

    private static void CheckBudget(SearchBudget budget, OptionBinder binder, YamlNode node)
    {
        if (budget.Trials < 1)
        {
            binder.Add(ErrorCodes.SearchBadBudget, $"search.budget.trials is {budget.Trials}: the search needs at least one trial.", Find(node as YamlMappingNode, "trials") ?? node);
        }

        if (budget.Minutes is <= 0)
        {
            binder.Add(ErrorCodes.SearchBadBudget, $"search.budget.minutes is {Text(budget.Minutes.Value)}: give a time above 0, or leave it out.", Find(node as YamlMappingNode, "minutes") ?? node);
        }

        if (budget.Patience is < 1)
        {
            binder.Add(ErrorCodes.SearchBadBudget, $"search.budget.patience is {budget.Patience}: give at least 1 trial, or leave it out.", Find(node as YamlMappingNode, "patience") ?? node);
        }
    }

    /// <summary>Metrics beyond the file need data to evaluate on; the data set must exist.</summary>
    private static void CheckData(SearchSpec spec, Recipe recipe, IEnumerable<SearchMetric> metrics, OptionBinder binder, YamlMappingNode searchNode)
    {
        var data = spec.Data ?? recipe.Evaluate?.Data;
        if (spec.Data is { } name && !recipe.Data.ContainsKey(name))
        {
            var suggestion = OptionBinder.Suggest(name, recipe.Data.Keys);
            binder.Add(ErrorCodes.RecipeUnknownDataSet, $"search.data names the data set '{name}', which the recipe does not define under 'data'.{(suggestion is null ? "" : $" Did you mean '{suggestion}'?")}", Find(searchNode, "data") ?? searchNode);
            return;
        }

        if (data is null && metrics.FirstOrDefault(m => m.Source != MetricSource.File) is { } needsData)
        {
            binder.Add(ErrorCodes.SearchMetricNotProduced, $"The search uses {needsData.Name}, which needs an evaluation, but neither search.data nor evaluate.data names a data set.", searchNode);
        }
    }

    private static string Suggestion(string name) => OptionBinder.Suggest(name, SearchMetric.All.Select(m => m.Name)) is { } s ? $" Did you mean '{s}'?" : "";

    private static double? Number(YamlNode? node, OptionBinder binder, string where) =>
        node is null ? null : binder.Bind(node, typeof(double), where) as double?;

    /// <summary>A value's text as written, in flow style for lists and maps: the label of a choice.</summary>
    internal static string Label(YamlNode node) => node switch
    {
        YamlScalarNode scalar => scalar.Value ?? "null",
        YamlSequenceNode sequence => "[" + string.Join(", ", sequence.Children.Select(Label)) + "]",
        YamlMappingNode map => "{" + string.Join(", ", map.Children.Select(p => $"{Label(p.Key)}: {Label(p.Value)}")) + "}",
        _ => node.ToString(),
    };

    private static string Text(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    private static YamlNode? Find(YamlMappingNode? map, string key) =>
        map?.Children.FirstOrDefault(p => ((YamlScalarNode)p.Key).Value == key).Value;

    private static YamlNode Item(YamlMappingNode searchNode, string key, int index) =>
        Find(searchNode, key) switch
        {
            YamlSequenceNode list when index < list.Children.Count => list.Children[index],
            { } other => other,
            null => searchNode,
        };

    private static SearchSpace Fail(OptionBinder binder, string code, string message, YamlNode node)
    {
        binder.Add(code, message, node);
        return SearchSpace.Empty;
    }

    private static T Fail<T>(OptionBinder binder, string code, string message, YamlNode node)
    {
        binder.Add(code, message, node);
        return default!;
    }

    [GeneratedRegex(@"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?")]
    private static partial Regex PathPart();

    [GeneratedRegex(@"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([KMG]?B)?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex ConstraintPattern();
}
