<#
.SYNOPSIS
    Times `Import-Module Compression` alone in fresh pwsh processes (median of -Runs), against importing a module
    that ships with PowerShell (Microsoft.PowerShell.Utility) measured the same way, side by side.
.EXAMPLE
    dotnet pwsh ./bench/Measure-ImportTime.ps1 -Runs 7
#>
param([int] $Runs = 7, [string] $ModulePath = (Join-Path $PSScriptRoot '../out/Compression/Compression.psd1'))

$pwshDll = Join-Path $PSHOME 'pwsh.dll'
function Measure-Import([string] $module) {
    $times = foreach ($i in 1..$Runs) {
        $script = "`$w = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$module'; `$w.Elapsed.TotalMilliseconds"
        $value = if (Test-Path $pwshDll) { & dotnet $pwshDll -NoProfile -NonInteractive -Command $script } else { & ([Environment]::ProcessPath) -NoProfile -NonInteractive -Command $script }
        [double]($value | Select-Object -Last 1)
    }
    ($times | Sort-Object)[[int][math]::Floor($Runs / 2)]
}

$compression = Measure-Import (Resolve-Path $ModulePath)
$builtin = Measure-Import 'Microsoft.PowerShell.Utility'
"| module | Import-Module, median of $Runs fresh processes (ms) |"
'| --- | ---: |'
'| Compression | {0:0} |' -f $compression
'| Microsoft.PowerShell.Utility (ships with pwsh) | {0:0} |' -f $builtin
''
'Compression / built-in: **{0:0.00}x**; goal: Compression under 500 ms.' -f ($compression / $builtin)
