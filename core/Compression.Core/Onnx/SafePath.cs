namespace Compression.Core.Onnx;

/// <summary>Path checks for external data: never follow a location out of the model's folder.</summary>
internal static class SafePath
{
    private static readonly StringComparison PathComparison =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>
    /// Resolves an external data location against the model's folder. Returns null with a reason when the
    /// location is absolute, climbs with <c>..</c>, or resolves (through symbolic links) outside the folder.
    /// </summary>
    public static string? ResolveInside(string baseDirectory, string location, out string reason)
    {
        reason = "";
        if (location.Length == 0 || location.Contains('\0'))
        {
            reason = "is empty or contains a NUL character";
            return null;
        }

        if (Path.IsPathRooted(location) || location.StartsWith('/') || location.StartsWith('\\') || location.Contains(':'))
        {
            reason = "is an absolute path";
            return null;
        }

        foreach (var segment in location.Split('/', '\\'))
        {
            if (segment == "..")
            {
                reason = "climbs out of the model's folder with '..'";
                return null;
            }
        }

        var root = RealPath(Path.GetFullPath(baseDirectory));
        var candidate = RealPath(Path.GetFullPath(Path.Combine(baseDirectory, location)));
        var prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (!candidate.StartsWith(prefix, PathComparison))
        {
            reason = $"resolves to '{candidate}', outside the model's folder";
            return null;
        }

        return candidate;
    }

    /// <summary>Whether two paths name the same file once links are followed.</summary>
    public static bool SameFile(string a, string b) =>
        string.Equals(RealPath(Path.GetFullPath(a)), RealPath(Path.GetFullPath(b)), PathComparison);

    /// <summary>The path with every symbolic link along it followed, as far as the path exists.</summary>
    public static string RealPath(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "";
        var current = root;
        var parts = fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                next = target is null ? next : Path.GetFullPath(target.FullName);
                if (!ReferenceEquals(target, null) && i < parts.Length - 1)
                {
                    // The rest of the path continues below the link's target, which may itself hold links.
                    next = RealPath(next);
                }
            }
            else if (!info.Exists)
            {
                return Path.Combine([next, .. parts[(i + 1)..]]);
            }

            current = next;
        }

        return current;
    }
}
