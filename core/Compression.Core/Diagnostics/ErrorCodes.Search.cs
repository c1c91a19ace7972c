namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 4100-4199: search
    public const string SearchSpaceEmpty = "CMP4101";
    public const string SearchUnknownPath = "CMP4102";
    public const string SearchBadRange = "CMP4103";
    public const string SearchBadBudget = "CMP4104";
    public const string SearchUnknownMetric = "CMP4105";
    public const string SearchMetricNotProduced = "CMP4106";
    public const string SearchGridNeedsSteps = "CMP4107";
    public const string SearchNoFeasibleTrial = "CMP4108";
    public const string SearchJournalStale = "CMP4109";
    public const string SearchValueOutOfRange = "CMP4110";
    public const string SearchBadCondition = "CMP4111";
    public const string SearchBadOrder = "CMP4112";
    public const string SearchPatternUnmatched = "CMP4113";
}
