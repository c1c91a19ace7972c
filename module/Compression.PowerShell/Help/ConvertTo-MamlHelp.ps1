<#
.SYNOPSIS
    Builds the module's help (MAML XML and about topics) from the Markdown in docs/cmdlets and docs/recipes.md.
.DESCRIPTION
    The Markdown keeps what people write (synopsis, description, examples, parameter descriptions); the built module
    supplies what the code knows (parameter types, positions, pipeline binding, sets). A cmdlet or parameter without
    help, or an example count under two, fails the build. Run by build.ps1 in a child pwsh that imports the module.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $DocsPath,
    [Parameter(Mandatory)] [string] $OutputFolder
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$module = Import-Module $ModulePath -PassThru -Force
$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters

function Get-Sections([string] $text) {
    # '## NAME' sections; '### title' sub-sections inside EXAMPLES and PARAMETERS.
    $sections = [ordered]@{}
    foreach ($block in [regex]::Split($text, '(?m)^## ') | Select-Object -Skip 1) {
        $name, $body = $block -split "`n", 2
        $sections[$name.Trim()] = $body.Trim()
    }
    $sections
}

function Get-SubSections([string] $text) {
    $items = [ordered]@{}
    foreach ($block in [regex]::Split($text, '(?m)^### ') | Select-Object -Skip 1) {
        $name, $body = $block -split "`n", 2
        $items[$name.Trim()] = $body.Trim()
    }
    $items
}

function ConvertTo-Paragraphs([System.Xml.XmlWriter] $writer, [string] $text) {
    foreach ($paragraph in $text -split "(\r?\n){2,}" | Where-Object { $_.Trim() }) {
        $writer.WriteElementString('maml', 'para', 'http://schemas.microsoft.com/maml/2004/10', (($paragraph -split "\r?\n" | ForEach-Object Trim) -join ' '))
    }
}

$problems = [System.Collections.Generic.List[string]]::new()
$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
New-Item -ItemType Directory -Path $OutputFolder -Force | Out-Null
$mamlPath = Join-Path $OutputFolder 'Compression.PowerShell.dll-Help.xml'
$writer = [System.Xml.XmlWriter]::Create($mamlPath, $settings)
$ns = @{ maml = 'http://schemas.microsoft.com/maml/2004/10'; command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'; dev = 'http://schemas.microsoft.com/maml/dev/2004/10' }
$writer.WriteStartDocument()
$writer.WriteStartElement('helpItems', 'http://msh')
$writer.WriteAttributeString('schema', 'maml')
foreach ($command in Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name) {
    $markdown = Join-Path $DocsPath "$($command.Name).md"
    if (-not (Test-Path $markdown)) { $problems.Add("$($command.Name) has no help file ($markdown)."); continue }
    $sections = Get-Sections (Get-Content $markdown -Raw)
    foreach ($required in 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS') {
        if (-not $sections.Contains($required)) { $problems.Add("$($command.Name): the help has no '## $required' section.") }
    }
    if ($problems.Count) { continue }
    $examples = Get-SubSections $sections['EXAMPLES']
    $parameterHelp = Get-SubSections $sections['PARAMETERS']
    if ($examples.Count -lt 2) { $problems.Add("$($command.Name): the help has $($examples.Count) example(s); at least two are needed.") }
    $parameters = $command.Parameters.Values | Where-Object { $_.Name -notin $common }
    foreach ($parameter in $parameters) {
        if (-not $parameterHelp.Contains("-$($parameter.Name)")) { $problems.Add("$($command.Name): parameter -$($parameter.Name) has no help.") }
    }
    foreach ($documented in $parameterHelp.Keys) {
        if ($documented.TrimStart('-') -notin $parameters.Name) { $problems.Add("$($command.Name): the help describes $documented, which the cmdlet does not have.") }
    }

    $writer.WriteStartElement('command', 'command', $ns.command)
    $writer.WriteAttributeString('xmlns', 'maml', $null, $ns.maml)
    $writer.WriteAttributeString('xmlns', 'dev', $null, $ns.dev)
    $writer.WriteStartElement('command', 'details', $ns.command)
    $writer.WriteElementString('command', 'name', $ns.command, $command.Name)
    $writer.WriteElementString('command', 'verb', $ns.command, $command.Verb)
    $writer.WriteElementString('command', 'noun', $ns.command, $command.Noun)
    $writer.WriteStartElement('maml', 'description', $ns.maml); ConvertTo-Paragraphs $writer $sections['SYNOPSIS']; $writer.WriteEndElement()
    $writer.WriteEndElement()
    $writer.WriteStartElement('maml', 'description', $ns.maml); ConvertTo-Paragraphs $writer $sections['DESCRIPTION']; $writer.WriteEndElement()

    $writeParameter = {
        param($parameter, $set)
        $attribute = $set ?? ($parameter.ParameterSets.Values | Select-Object -First 1)
        $pipeline = @(if ($attribute.ValueFromPipelineByPropertyName) { 'ByPropertyName' }; if ($attribute.ValueFromPipeline) { 'ByValue' })
        $writer.WriteStartElement('command', 'parameter', $ns.command)
        $writer.WriteAttributeString('required', $attribute.IsMandatory.ToString().ToLowerInvariant())
        $writer.WriteAttributeString('globbing', ($parameter.Attributes.TypeId.Name -contains 'SupportsWildcardsAttribute').ToString().ToLowerInvariant())
        $writer.WriteAttributeString('pipelineInput', $(if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }))
        $writer.WriteAttributeString('position', $(if ($attribute.Position -ge 0) { $attribute.Position } else { 'named' }))
        $writer.WriteAttributeString('aliases', $(if ($parameter.Aliases.Count) { $parameter.Aliases -join ', ' } else { 'none' }))
        $writer.WriteElementString('maml', 'name', $ns.maml, $parameter.Name)
        $writer.WriteStartElement('maml', 'description', $ns.maml); ConvertTo-Paragraphs $writer ($parameterHelp["-$($parameter.Name)"] ?? ''); $writer.WriteEndElement()
        if ($parameter.ParameterType -ne [System.Management.Automation.SwitchParameter]) {
            $writer.WriteStartElement('command', 'parameterValue', $ns.command)
            $writer.WriteAttributeString('required', 'true')
            $writer.WriteString($parameter.ParameterType.Name)
            $writer.WriteEndElement()
        }
        $writer.WriteStartElement('dev', 'type', $ns.dev); $writer.WriteElementString('maml', 'name', $ns.maml, $parameter.ParameterType.FullName); $writer.WriteEndElement()
        $writer.WriteEndElement()
    }

    $writer.WriteStartElement('command', 'syntax', $ns.command)
    foreach ($set in $command.ParameterSets) {
        $writer.WriteStartElement('command', 'syntaxItem', $ns.command)
        $writer.WriteElementString('maml', 'name', $ns.maml, $command.Name)
        foreach ($parameter in $set.Parameters | Where-Object { $_.Name -notin $common }) {
            & $writeParameter $command.Parameters[$parameter.Name] ($command.Parameters[$parameter.Name].ParameterSets[$set.Name])
        }
        $writer.WriteEndElement()
    }
    $writer.WriteEndElement()
    $writer.WriteStartElement('command', 'parameters', $ns.command)
    foreach ($parameter in $parameters) { & $writeParameter $parameter $null }
    $writer.WriteEndElement()

    if ($sections.Contains('OUTPUTS')) {
        $writer.WriteStartElement('command', 'returnValues', $ns.command)
        $writer.WriteStartElement('command', 'returnValue', $ns.command)
        $writer.WriteStartElement('dev', 'type', $ns.dev); $writer.WriteElementString('maml', 'name', $ns.maml, $sections['OUTPUTS']); $writer.WriteEndElement()
        $writer.WriteEndElement(); $writer.WriteEndElement()
    }

    $writer.WriteStartElement('command', 'examples', $ns.command)
    foreach ($title in $examples.Keys) {
        $body = $examples[$title]
        $match = [regex]::Match($body, '(?s)```powershell\s*\n(.*?)```\s*(.*)')
        if (-not $match.Success) { $problems.Add("$($command.Name): example '$title' has no powershell code block."); continue }
        $writer.WriteStartElement('command', 'example', $ns.command)
        $writer.WriteElementString('maml', 'title', $ns.maml, "-------------------------- $title --------------------------")
        $writer.WriteElementString('dev', 'code', $ns.dev, $match.Groups[1].Value.TrimEnd())
        $writer.WriteStartElement('dev', 'remarks', $ns.dev); ConvertTo-Paragraphs $writer $match.Groups[2].Value; $writer.WriteEndElement()
        $writer.WriteEndElement()
    }
    $writer.WriteEndElement()
    $writer.WriteEndElement()
}
$writer.WriteEndElement()
$writer.WriteEndDocument()
$writer.Dispose()

if ($problems.Count) {
    throw "The module's help is incomplete:`n  " + ($problems -join "`n  ")
}

# About topics: plain text from the Markdown.
function ConvertTo-AboutText([string] $markdown) {
    ($markdown -replace '(?m)^#+ ', '' -replace '```\w*', '').Trim() + "`n"
}
Set-Content (Join-Path $OutputFolder 'about_Compression.help.txt') (ConvertTo-AboutText (Get-Content (Join-Path $DocsPath 'about_Compression.md') -Raw)) -NoNewline
$recipes = Get-Content (Join-Path $DocsPath '../recipes.md') -Raw
Set-Content (Join-Path $OutputFolder 'about_Compression_Recipes.help.txt') ("about_Compression_Recipes`n`n" + (ConvertTo-AboutText ($recipes -replace '<!--.*?-->', ''))) -NoNewline
Write-Host "Help written to $OutputFolder"
