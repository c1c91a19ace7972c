using System.Reflection;
using System.Reflection.Emit;
using Compression.Core.Diagnostics;

namespace Compression.Core.Tests;

/// <summary>
/// The layers of the core (docs/ARCHITECTURE.md), checked on the compiled assembly: every type a type uses, in its
/// signatures and in its method bodies (the IL's field, method and type tokens), must belong to its own layer or one
/// below it, and the methods never use each other. Reading the compiled code catches what `using` lines hide: a
/// qualified name such as <c>Quantization.WeightOnly.HessianCollector</c>, or a type of a parent namespace.
/// </summary>
public sealed class LayeringTests
{
    /// <summary>
    /// The rank of each top-level namespace under Compression.Core: a layer uses only lower ranks. Two namespaces of
    /// the same rank are siblings and use neither each other (the methods, Quantization and Pruning, meet only in
    /// recipes).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, int> Ranks = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["Diagnostics"] = 0,
        ["Options"] = 1,
        ["Numerics"] = 1,
        ["Onnx"] = 1,
        ["Data"] = 2,
        ["Evaluation"] = 3,
        ["Calibration"] = 4,
        ["Layers"] = 5,
        ["Passes"] = 6,
        ["Quantization"] = 7,
        ["Pruning"] = 7,
        ["Factorization"] = 7,
        ["Recipes"] = 8,
        ["Reports"] = 9,
        ["Pipeline"] = 10,
        ["Search"] = 11,
    };

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    [Fact]
    public void Every_namespace_of_the_core_has_a_layer()
    {
        var unranked = Core.GetTypes().Select(Layer).OfType<string>().Where(l => !Ranks.ContainsKey(l)).Distinct().ToList();
        Assert.True(unranked.Count == 0, $"Namespaces without a layer: {string.Join(", ", unranked)}; give each a rank here and in docs/ARCHITECTURE.md.");
    }

    [Fact]
    public void No_layer_uses_one_above_it_or_a_sibling()
    {
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in Core.GetTypes())
        {
            if (Layer(type) is not { } from || !Ranks.TryGetValue(from, out var rank))
            {
                continue;
            }

            foreach (var used in Uses(type))
            {
                if (Layer(used) is { } to && to != from && Ranks.TryGetValue(to, out var usedRank) && usedRank >= rank)
                {
                    violations.Add($"{from} -> {to}: {Outermost(type).FullName} uses {used.FullName}");
                }
            }
        }

        Assert.True(violations.Count == 0, $"{violations.Count} uses against the layering:\n{string.Join("\n", violations.Take(60))}");
    }

    private static Assembly Core => typeof(CompressionException).Assembly;

    /// <summary>
    /// The top-level namespace under Compression.Core of a type (nested and compiler-made types count as their
    /// outermost type's); null for the compiler's own types outside it.
    /// </summary>
    private static string? Layer(Type type)
    {
        var name = Outermost(type).Namespace ?? "";
        const string Prefix = "Compression.Core.";
        return name.StartsWith(Prefix, StringComparison.Ordinal) ? name[Prefix.Length..].Split('.')[0] : name == "Compression.Core" ? "" : null;
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }

        return type;
    }

    /// <summary>The core's types a type names: base, interfaces, fields, signatures, attributes and the tokens of its method bodies.</summary>
    private static HashSet<Type> Uses(Type type)
    {
        var used = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null)
            {
                return;
            }

            if (t.HasElementType)
            {
                Add(t.GetElementType());
                return;
            }

            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                foreach (var argument in t.GetGenericArguments())
                {
                    Add(argument);
                }

                t = t.GetGenericTypeDefinition();
            }

            if (!t.IsGenericParameter && t.Assembly == Core)
            {
                used.Add(t);
            }
        }

        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        Add(type.BaseType);
        foreach (var i in type.GetInterfaces())
        {
            Add(i);
        }

        foreach (var attribute in type.GetCustomAttributesData())
        {
            Add(attribute.AttributeType);
        }

        foreach (var field in type.GetFields(All))
        {
            Add(field.FieldType);
        }

        foreach (var property in type.GetProperties(All))
        {
            Add(property.PropertyType);
            foreach (var attribute in property.GetCustomAttributesData())
            {
                Add(attribute.AttributeType);
            }
        }

        foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            if (method is MethodInfo info)
            {
                Add(info.ReturnType);
            }

            foreach (var parameter in method.GetParameters())
            {
                Add(parameter.ParameterType);
            }

            foreach (var token in BodyTokens(method))
            {
                try
                {
                    var member = type.Module.ResolveMember(token, type.IsGenericType ? type.GetGenericArguments() : null,
                        method.IsGenericMethod ? method.GetGenericArguments() : null);
                    switch (member)
                    {
                        case Type t:
                            Add(t);
                            break;
                        case FieldInfo f:
                            Add(f.DeclaringType);
                            Add(f.FieldType);
                            break;
                        case MethodBase m:
                            Add(m.DeclaringType);
                            if (m is MethodInfo { IsGenericMethod: true } generic)
                            {
                                foreach (var argument in generic.GetGenericArguments())
                                {
                                    Add(argument);
                                }
                            }

                            break;
                    }
                }
                catch (ArgumentException)
                {
                    // A token of another module's generic context: not a type of the core.
                }
            }
        }

        return used;
    }

    /// <summary>The metadata tokens (fields, methods, types) in a method's IL.</summary>
    private static IEnumerable<int> BodyTokens(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }

        var position = 0;
        while (position < il.Length)
        {
            short value = il[position++];
            if (value == 0xFE)
            {
                value = (short)(0xFE00 | il[position++]);
            }

            var opCode = OpCodesByValue[value];
            switch (opCode.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    yield return BitConverter.ToInt32(il, position);
                    position += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    position += 1;
                    break;
                case OperandType.InlineVar:
                    position += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    position += 8;
                    break;
                case OperandType.InlineSwitch:
                    position += 4 + 4 * BitConverter.ToInt32(il, position);
                    break;
                default:
                    position += 4;
                    break;
            }
        }
    }
}
