namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 1100-1199: data sets
    public const string DataFileMissing = "CMP1101";
    public const string DataFileCorrupt = "CMP1102";
    public const string DataSetEmpty = "CMP1103";
    public const string DataShapeMismatch = "CMP1104";
    public const string DataInputNameMismatch = "CMP1105";
    public const string DataVocabMissing = "CMP1106";
    public const string DataTypeUnsupported = "CMP1107";
    public const string DataFormatUnknown = "CMP1108";
    public const string DataOptionInvalid = "CMP1109";
}
