using System.Collections;
using System.Reflection;
using Compression.Core.Options;
using Compression.Core.Passes;
using Compression.Core.Recipes;

namespace Compression.Core.Recipes.Search;

/// <summary>How one segment of a path reaches into an option.</summary>
public enum PathSegmentKind
{
    /// <summary>The option itself (<c>bits</c>), or a nested options record (<c>calibration</c>).</summary>
    Option,

    /// <summary>An entry of a map option (<c>layers[MatMul_12]</c>): set, or removed with a null value.</summary>
    Entry,

    /// <summary>Membership of a list option (<c>exclude[Softmax]</c>): true adds the item, false leaves it out.</summary>
    Member,
}

/// <summary>One segment: the option property, and for map entries and list members, the key.</summary>
public sealed record PathSegment(PropertyInfo Property, PathSegmentKind Kind, string? Key);

/// <summary>
/// A path from a recipe step into any of its options, however deep: <c>quantize.bits</c>,
/// <c>quantize.calibration.method</c>, <c>quantize.layers[MatMul_12].block_size</c>, <c>quantize.exclude[Softmax]</c>,
/// <c>prune.sparsity</c>; <c>quantize[2].bits</c> for the second quantize step. Found through the options types'
/// [Option] properties, so any pass's options are searchable without the search knowing the pass.
/// </summary>
public sealed record OptionPath(string Text, int Step, IReadOnlyList<PathSegment> Segments)
{
    /// <summary>Where the path is written in the recipe (1-based), for diagnostics found later, e.g. against the model.</summary>
    public (int Line, int Column) Position { get; init; }

    /// <summary>The type of the value the path sets (bool for a list member).</summary>
    public Type ValueType
    {
        get
        {
            var last = Segments[^1];
            return last.Kind switch
            {
                PathSegmentKind.Member => typeof(bool),
                PathSegmentKind.Entry => OptionBinder.Dictionary(last.Property.PropertyType)!,
                _ => last.Property.PropertyType,
            };
        }
    }

    /// <summary>The property whose [Option] range applies to the value, or null for a map entry or list member.</summary>
    public PropertyInfo? RangeProperty => Segments[^1].Kind == PathSegmentKind.Option ? Segments[^1].Property : null;

    /// <summary>The options with this path's value set: every record on the way is copied, nothing shared is changed.</summary>
    public PassOptions Set(PassOptions options, object? value) => (PassOptions)Set(options, 0, value)!;

    private object? Set(object record, int index, object? value)
    {
        var segment = Segments[index];
        var copy = Copy(record);
        var current = segment.Property.GetValue(record);
        var last = index == Segments.Count - 1;
        object? updated;
        switch (segment.Kind)
        {
            case PathSegmentKind.Entry:
                var valueType = OptionBinder.Dictionary(segment.Property.PropertyType)!;
                var map = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(string), valueType))!;
                if (current is IEnumerable existing)
                {
                    foreach (var pair in existing)
                    {
                        var pairType = pair!.GetType();
                        map[pairType.GetProperty("Key")!.GetValue(pair)!] = pairType.GetProperty("Value")!.GetValue(pair);
                    }
                }

                var entry = last ? value : Set(map.Contains(segment.Key!) && map[segment.Key!] is { } inner ? inner : Activator.CreateInstance(valueType)!, index + 1, value);
                if (entry is null)
                {
                    map.Remove(segment.Key!);
                }
                else
                {
                    map[segment.Key!] = entry;
                }

                updated = map;
                break;
            case PathSegmentKind.Member:
                var elementType = OptionBinder.Element(segment.Property.PropertyType)!;
                var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(elementType))!;
                foreach (var item in (current as IEnumerable ?? Array.Empty<object>()).Cast<object>().Where(i => !Equals(i, segment.Key)))
                {
                    list.Add(item);
                }

                if (value is true)
                {
                    list.Add(segment.Key);
                }

                updated = segment.Property.PropertyType.IsArray ? ToArray(list, elementType) : list;
                break;
            default:
                updated = last ? value : Set(current ?? Activator.CreateInstance(segment.Property.PropertyType)!, index + 1, value);
                break;
        }

        segment.Property.SetValue(copy, updated);
        return copy;
    }

    /// <summary>A shallow copy of an options record through the compiler's clone method (records keep their init-only shape).</summary>
    private static object Copy(object record) =>
        record.GetType().GetMethod("<Clone>$", BindingFlags.Public | BindingFlags.Instance)?.Invoke(record, null)
        ?? throw new InvalidOperationException($"{record.GetType().Name} is not a record.");

    private static Array ToArray(IList list, Type elementType)
    {
        var array = Array.CreateInstance(elementType, list.Count);
        list.CopyTo(array, 0);
        return array;
    }
}
