using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Compression.Core.Recipes;

namespace Compression.PowerShell.Commands;

/// <summary>
/// Completes <c>-Data</c> with the names of the data sets defined in the <c>-Recipe</c> file already typed on the
/// command line. Without a readable recipe it offers nothing, and PowerShell falls back to file names.
/// </summary>
public sealed class DataSetNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        if (fakeBoundParameters["Recipe"] is not string recipe || recipe.Length == 0)
        {
            return [];
        }

        // Completion runs inside the console's pipeline, where SessionStateProxy is off limits; a nested command is not.
        using var shell = System.Management.Automation.PowerShell.Create(RunspaceMode.CurrentRunspace);
        var resolved = shell.AddScript("$ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($args[0])").AddArgument(recipe).Invoke();
        if (shell.HadErrors || resolved.Count != 1 || resolved[0]?.BaseObject is not string path || !File.Exists(path))
        {
            return [];
        }

        // Validate, not Load: a recipe with errors elsewhere still names its data sets.
        var (parsed, _) = RecipeParser.Validate(path);
        if (parsed is null)
        {
            return [];
        }

        var prefix = wordToComplete.Trim('\'', '"');
        return parsed.Data
            .Where(d => d.Key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .OrderBy(d => d.Key, StringComparer.Ordinal)
            .Select(d => new CompletionResult(d.Key, d.Key, CompletionResultType.ParameterValue, $"{d.Key}: {d.Value.Format} {d.Value.Path}"))
            .ToList();
    }
}
