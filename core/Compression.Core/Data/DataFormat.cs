namespace Compression.Core.Data;

/// <summary>The kinds of data set a recipe or a cmdlet can name.</summary>
public enum DataFormat
{
    /// <summary>One NumPy <c>.npy</c> array for a single-input model.</summary>
    Npy,

    /// <summary>A NumPy <c>.npz</c> archive: one array per model input.</summary>
    Npz,

    /// <summary>ONNX's test-data layout: <c>test_data_set_N/input_K.pb</c> folders, one batch each.</summary>
    OnnxTestData,

    /// <summary>IDX files (MNIST, Fashion-MNIST), gzipped or not.</summary>
    Idx,

    /// <summary>A folder of PNG and JPEG images.</summary>
    Images,

    /// <summary>A lines file or a TSV column, tokenized with BERT WordPiece.</summary>
    Text,

    /// <summary>Values drawn at random to the model's declared input types and shapes.</summary>
    Random,
}
