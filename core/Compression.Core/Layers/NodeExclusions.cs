using System.Text.RegularExpressions;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Layers;

/// <summary>
/// The nodes a method's <c>exclude</c> list leaves alone: an entry matches a node's op type exactly, or its name with
/// the wildcards * and ?.
/// </summary>
internal sealed class NodeExclusions
{
    private readonly HashSet<string> opTypes = new(StringComparer.Ordinal);
    private readonly List<Regex> namePatterns = [];

    public NodeExclusions(IEnumerable<string> entries)
    {
        foreach (var entry in entries)
        {
            opTypes.Add(entry);
            var pattern = "^" + Regex.Escape(entry).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$";
            namePatterns.Add(new Regex(pattern, RegexOptions.CultureInvariant));
        }
    }

    public bool Excludes(NodeProto node)
    {
        if (opTypes.Contains(node.OpType))
        {
            return true;
        }

        foreach (var pattern in namePatterns)
        {
            if (node.Name.Length > 0 && pattern.IsMatch(node.Name))
            {
                return true;
            }
        }

        return false;
    }
}
