using System.Text.RegularExpressions;
using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.WeightOnly;

/// <summary>
/// The <c>exclude</c> option: a node stays in float when its name matches one of the patterns (wildcards * and ?,
/// case-sensitive, like ONNX names) or its op type equals one of them.
/// </summary>
internal sealed class NodeExclusion
{
    private readonly IReadOnlyList<string> patterns;
    private readonly Regex[] namePatterns;

    public NodeExclusion(IReadOnlyList<string> patterns)
    {
        this.patterns = patterns;
        namePatterns = new Regex[patterns.Count];
        for (var i = 0; i < patterns.Count; i++)
        {
            var regex = "^" + Regex.Escape(patterns[i]).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$";
            namePatterns[i] = new Regex(regex, RegexOptions.CultureInvariant | RegexOptions.Singleline);
        }
    }

    public bool Excludes(NodeProto node)
    {
        for (var i = 0; i < patterns.Count; i++)
        {
            if (node.OpType == patterns[i] || (node.Name.Length > 0 && namePatterns[i].IsMatch(node.Name)))
            {
                return true;
            }
        }

        return false;
    }
}
