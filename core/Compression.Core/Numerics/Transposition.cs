namespace Compression.Core.Numerics;

/// <summary>Transposes of dense row-major matrices.</summary>
internal static class Transposition
{
    /// <summary>Rows and columns of one tile: a 32 x 32 float tile read and one written fit in L1 together.</summary>
    private const int Tile = 32;

    /// <summary>
    /// Writes the [<paramref name="columns"/>, <paramref name="rows"/>] transpose of the row-major [<paramref name="rows"/>,
    /// <paramref name="columns"/>] <paramref name="matrix"/> to <paramref name="transposed"/>. Tile by tile: a plain
    /// double loop writes one value per cache line on the strided side, which on a large weight misses every time.
    /// </summary>
    public static void Transpose<T>(ReadOnlySpan<T> matrix, int rows, int columns, Span<T> transposed)
    {
        if (matrix.Length != (long)rows * columns || transposed.Length != matrix.Length)
        {
            throw new ArgumentException($"A [{rows}, {columns}] matrix has {(long)rows * columns} values; got {matrix.Length} to read and {transposed.Length} to write.");
        }

        for (var firstRow = 0; firstRow < rows; firstRow += Tile)
        {
            var lastRow = Math.Min(firstRow + Tile, rows);
            for (var firstColumn = 0; firstColumn < columns; firstColumn += Tile)
            {
                var width = Math.Min(Tile, columns - firstColumn);
                for (var r = firstRow; r < lastRow; r++)
                {
                    var source = matrix.Slice(r * columns + firstColumn, width);
                    for (var c = 0; c < width; c++)
                    {
                        transposed[(firstColumn + c) * rows + r] = source[c];
                    }
                }
            }
        }
    }
}
