using System.Globalization;

namespace Compression.Core.Data.Sources.Images;

/// <summary>A resize or crop option: <c>"256"</c> (one side) or <c>"WIDTHxHEIGHT"</c>.</summary>
public sealed record ImageSize(int Width, int Height, bool IsSingleSide)
{
    public static ImageSize? Parse(string? text, string option, string? path)
    {
        if (text is null)
        {
            return null;
        }

        var parts = text.Split('x', 'X');
        var sizes = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts.Length > 2 || !int.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0)
            {
                throw DataErrors.Option(path, $"{option} takes \"N\" or \"WIDTHxHEIGHT\" with positive sizes; got \"{text}\".");
            }
        }

        return sizes.Length == 1 ? new ImageSize(sizes[0], sizes[0], true) : new ImageSize(sizes[0], sizes[1], false);
    }
}
