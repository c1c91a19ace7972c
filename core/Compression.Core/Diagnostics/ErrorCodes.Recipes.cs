namespace Compression.Core.Diagnostics;

public static partial class ErrorCodes
{
    // 10xx: recipe validation
    public const string RecipeNotFound = "CMP1001";
    public const string RecipeSyntax = "CMP1002";
    public const string RecipeUnknownKey = "CMP1003";
    public const string RecipeWrongType = "CMP1004";
    public const string RecipeOutOfRange = "CMP1005";
    public const string RecipeMissingKey = "CMP1006";
    public const string RecipeUnknownStep = "CMP1007";
    public const string RecipeUnknownDataSet = "CMP1008";
    public const string RecipeBadOutput = "CMP1009";
    public const string RecipeOptionIgnored = "CMP1010";
    public const string RecipeDuplicateKey = "CMP1011";
    public const string RecipeTooDeep = "CMP1090";
}
