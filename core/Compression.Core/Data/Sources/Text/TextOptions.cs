namespace Compression.Core.Data.Sources.Text;

/// <summary>How a <see cref="TextDataSource"/> reads and tokenizes its rows (see <see cref="DataSetSpec"/> for each).</summary>
public sealed record TextOptions(string VocabPath, int? Column = null, int[]? PairColumns = null, int? ScoreColumn = null,
    bool Header = false, int MaxLength = 128, bool LowerCase = true);
