using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Layers;

/// <summary>
/// A map option keyed by node patterns (the <c>layers</c> of quantize and prune): a key is a node name with the
/// wildcards * and ?, or an op type; the first entry, in the recipe's order, that matches a node applies to it.
/// Remembers which entries matched, so an entry that matched nothing can be reported.
/// </summary>
internal sealed class NodeRules<T>
    where T : class
{
    private readonly List<(string Pattern, NodeExclusions Match, T Value)> rules;
    private readonly HashSet<string> matched = new(StringComparer.Ordinal);

    public NodeRules(IReadOnlyDictionary<string, T> entries)
    {
        // A null entry (a search value that removes it, or 'key: ~') is no entry.
        rules = entries.Where(e => e.Value is not null).Select(e => (e.Key, new NodeExclusions([e.Key]), e.Value)).ToList();
    }

    /// <summary>The first entry that matches the node, or null.</summary>
    public (string Pattern, T Value)? For(NodeProto node) => ForAny([node]);

    /// <summary>The first entry that matches any of the nodes (e.g. the producing layers of a channel group), or null.</summary>
    public (string Pattern, T Value)? ForAny(IReadOnlyList<NodeProto> nodes)
    {
        foreach (var (pattern, match, value) in rules)
        {
            foreach (var node in nodes)
            {
                if (match.Excludes(node))
                {
                    matched.Add(pattern);
                    return (pattern, value);
                }
            }
        }

        return null;
    }

    /// <summary>The patterns no node asked about so far matched.</summary>
    public IReadOnlyList<string> Unmatched => rules.Select(r => r.Pattern).Where(p => !matched.Contains(p)).ToList();
}
