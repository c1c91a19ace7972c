namespace Compression.Core.Diagnostics;

/// <summary>
/// The catalog of stable error codes. The first digit is the area: 1 recipe, 2 model I/O, 3 pass, 4 search,
/// 5 host. Each code is documented in docs/errors.md; a test keeps the two in step.
/// Ranges: 1001-1099 recipe validation, 1100-1199 data sources, 2xxx model I/O, 3001-3099 graph and
/// pipeline passes, 3100-3199 graph passes' inputs, 3200-3399 quantization, 3400-3599 pruning, 4001-4099
/// gates, 4100-4199 search, 5xxx hosts. Each area keeps its codes in its own partial file.
/// </summary>
public static partial class ErrorCodes
{
    // 2xxx: model I/O
    public const string ModelNotFound = "CMP2001";
    public const string ModelPathIsDirectory = "CMP2002";
    public const string ModelEmpty = "CMP2003";
    public const string ModelNotProtobuf = "CMP2004";
    public const string ModelNotOnnx = "CMP2005";
    public const string ExternalDataMissing = "CMP2006";
    public const string ExternalDataUnsafeLocation = "CMP2007";
    public const string ExternalDataOutOfRange = "CMP2008";
    public const string TensorDataMismatch = "CMP2009";
    public const string OutputIsInput = "CMP2010";
    public const string OutputExists = "CMP2011";
    public const string ModelTooLarge = "CMP2012";
    public const string UnsupportedElementType = "CMP2013";
    public const string WriteFailed = "CMP2014";
    public const string ReadFailed = "CMP2015";
    public const string TensorSegmented = "CMP2016";

    // 3xxx: passes
    public const string GraphInvalid = "CMP3001";
    public const string HessianSingular = "CMP3006";

    // 5xxx: hosts
    public const string HostPathNotFound = "CMP5001";
    public const string HostNotFileSystem = "CMP5002";
    public const string HostOutputPathForManyInputs = "CMP5003";
    public const string HostInternalError = "CMP5010";
}
