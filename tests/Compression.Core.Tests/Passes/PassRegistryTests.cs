using System.Reflection;
using System.Text.RegularExpressions;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Recipes;

namespace Compression.Core.Tests.Passes;

public sealed partial class PassRegistryTests
{
    [Fact]
    public void Names_are_unique_snake_case_and_every_option_is_described()
    {
        var names = PassRegistry.All.Select(p => p.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(names, n => Assert.Matches(SnakeCase(), n));
        Assert.All(PassRegistry.All, p => Assert.False(string.IsNullOrWhiteSpace(p.Description)));
        Assert.Contains("fold_constants", names);
        foreach (var pass in PassRegistry.All)
        {
            Assert.True(typeof(PassOptions).IsAssignableFrom(pass.OptionsType));
            Assert.NotNull(Activator.CreateInstance(pass.OptionsType));
            foreach (var property in pass.OptionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.Name != "EqualityContract"))
            {
                var option = property.GetCustomAttribute<OptionAttribute>();
                Assert.True(option is not null && option.Description.Length > 0, $"{pass.Name}: option {property.Name} has no [Option] description.");
            }
        }

        Assert.Same(PassRegistry.All[0], PassRegistry.Find(names[0]));
        Assert.Null(PassRegistry.Find("no_such_pass"));
    }

    [GeneratedRegex("^[a-z]+(_[a-z0-9]+)*$")]
    private static partial Regex SnakeCase();
}
