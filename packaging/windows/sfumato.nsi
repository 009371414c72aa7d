; Sfumato installer for Windows (NSIS 3, Modern UI 2, Unicode).
;
; Wraps the PyInstaller one-folder bundle (dist/Sfumato: Sfumato.exe, sfumato-cli.exe, _internal/).
; The bundle carries no torch: the app installs the torch wheel for the user's GPU into its data
; folder on first run, so the installer stays far below NSIS's ~2 GB limit.
;
; Build it with packaging/windows/nsis.py, or by hand:
;   makensis -DPAYLOAD=C:\path\dist\Sfumato -DVERSION=0.1.0 -DOUTFILE=C:\out\Sfumato-0.1.0-setup.exe
;            [-DICON=C:\path\sfumato.ico] [-DVI_VERSION=0.1.0.0] [-DUNINSTALL_LIST=list.nsh]
;            [-DLZMA_DICT=32] [-DCOMPRESSOR=lzma|zlib] packaging\windows\sfumato.nsi
;
; Installs per user (no admin) into %LOCALAPPDATA%\Programs\Sfumato, registers in HKCU only.
; The uninstaller removes the program files and its registry keys; the user's documents, settings
; and autosaves are never touched, and the downloaded models and GPU runtime are removed only
; when the user ticks that box (off by default, and off in a silent uninstall).

Unicode true
ManifestDPIAware true
ManifestSupportedOS all

; --- compile-time parameters ------------------------------------------------------------------
!ifndef PAYLOAD
  !error "Pass the one-folder bundle: -DPAYLOAD=<path to dist/Sfumato>"
!endif
!ifndef VERSION
  !error "Pass the version: -DVERSION=<x.y.z>"
!endif
!ifndef OUTFILE
  !define OUTFILE "Sfumato-${VERSION}-setup.exe"
!endif
!ifndef VI_VERSION
  !define VI_VERSION "0.0.0.0"
!endif
!ifndef LZMA_DICT
  !define LZMA_DICT 32   ; MB; makensis needs about 11x this in memory
!endif
!ifndef COMPRESSOR
  !define COMPRESSOR lzma
!endif
; Where the app keeps what it downloads, relative to %LOCALAPPDATA% (platformdirs, appauthor=False):
; models in Sfumato\Cache (user_cache_dir), the GPU runtime (torch) in Sfumato\runtime.
!ifndef MODELS_SUBDIR
  !define MODELS_SUBDIR "Sfumato\Cache"
!endif
!ifndef RUNTIME_SUBDIR
  !define RUNTIME_SUBDIR "Sfumato\runtime"
!endif

!define APP_NAME      "Sfumato"
!define APP_EXE       "Sfumato.exe"
!define CLI_EXE       "sfumato-cli.exe"
!define PUBLISHER     "Sfumato contributors"
!define PROGID        "Sfumato.OpenRaster"
!define REG_APP       "Software\Sfumato"
!define REG_UNINSTALL "Software\Microsoft\Windows\CurrentVersion\Uninstall\Sfumato"
!define UNINSTALLER   "uninstall.exe"

; --- installer attributes ---------------------------------------------------------------------
!if "${COMPRESSOR}" == "lzma"
  SetCompressor /SOLID /FINAL lzma
  SetCompressorDictSize ${LZMA_DICT}
!else
  SetCompressor /FINAL ${COMPRESSOR}
!endif

Name "${APP_NAME}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${REG_APP}" "InstallDir"
BrandingText "${APP_NAME} ${VERSION}"
ShowInstDetails hide
ShowUninstDetails hide

VIProductVersion "${VI_VERSION}"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "Apache-2.0"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"
!include "WinVer.nsh"
!include "Sections.nsh"

; --- Modern UI --------------------------------------------------------------------------------
!define MUI_ABORTWARNING
!define MUI_UNABORTWARNING
!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_COMPONENTSPAGE_SMALLDESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH

!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"

; --- install ----------------------------------------------------------------------------------
Section "!${APP_NAME}" SecApp
  SectionIn RO
  SetShellVarContext current

  ; An earlier install: let its own uninstaller remove exactly the files it put there (it keeps
  ; the user's data), so no stale file of the old bundle survives next to the new one.
  ReadRegStr $0 HKCU "${REG_APP}" "InstallDir"
  ${If} $0 != ""
  ${AndIf} ${FileExists} "$0\${UNINSTALLER}"
    DetailPrint "Removing the previous version from $0"
    ExecWait '"$0\${UNINSTALLER}" /S _?=$0'
    Delete "$0\${UNINSTALLER}"
    RMDir "$0"
  ${EndIf}

  SetOutPath "$INSTDIR"
  File /r "${PAYLOAD}\*"
  WriteUninstaller "$INSTDIR\${UNINSTALLER}"

  CreateDirectory "$SMPROGRAMS"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0

  WriteRegStr HKCU "${REG_APP}" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${REG_APP}" "Version" "${VERSION}"
  WriteRegStr HKCU "${REG_APP}" "Associate" "0"
  WriteRegStr HKCU "${REG_APP}" "DesktopShortcut" "0"

  ; Add/Remove Programs (per-user entry)
  WriteRegStr HKCU "${REG_UNINSTALL}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${REG_UNINSTALL}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${REG_UNINSTALL}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${REG_UNINSTALL}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "${REG_UNINSTALL}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${REG_UNINSTALL}" "UninstallString" '"$INSTDIR\${UNINSTALLER}"'
  WriteRegStr HKCU "${REG_UNINSTALL}" "QuietUninstallString" '"$INSTDIR\${UNINSTALLER}" /S'
  WriteRegDWORD HKCU "${REG_UNINSTALL}" "NoModify" 1
  WriteRegDWORD HKCU "${REG_UNINSTALL}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${REG_UNINSTALL}" "EstimatedSize" "$0"
SectionEnd

Section "Open OpenRaster (.ora) files with ${APP_NAME}" SecAssoc
  SetShellVarContext current
  WriteRegStr HKCU "Software\Classes\${PROGID}" "" "OpenRaster image"
  WriteRegStr HKCU "Software\Classes\${PROGID}\DefaultIcon" "" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "Software\Classes\${PROGID}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'
  WriteRegStr HKCU "Software\Classes\.ora" "" "${PROGID}"
  WriteRegStr HKCU "Software\Classes\.ora" "Content Type" "image/openraster"
  WriteRegStr HKCU "Software\Classes\.ora\OpenWithProgids" "${PROGID}" ""
  WriteRegStr HKCU "${REG_APP}" "Associate" "1"
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'  ; SHCNE_ASSOCCHANGED
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  SetShellVarContext current
  CreateShortcut "$DESKTOP\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
  WriteRegStr HKCU "${REG_APP}" "DesktopShortcut" "1"
SectionEnd

Function .onInit
  SetShellVarContext current
  ${IfNot} ${RunningX64}
    MessageBox MB_OK|MB_ICONSTOP "${APP_NAME} needs 64-bit Windows." /SD IDOK
    Abort
  ${EndIf}
  ${IfNot} ${AtLeastWin10}
    MessageBox MB_OK|MB_ICONSTOP "${APP_NAME} needs Windows 10 or later." /SD IDOK
    Abort
  ${EndIf}
  ; An upgrade keeps the choices of the previous install (also in a silent one).
  ReadRegStr $0 HKCU "${REG_APP}" "DesktopShortcut"
  ${If} $0 == "1"
    !insertmacro SelectSection ${SecDesktop}
  ${EndIf}
  ReadRegStr $0 HKCU "${REG_APP}" "Associate"
  ${If} $0 == "0"
    !insertmacro UnselectSection ${SecAssoc}
  ${EndIf}
FunctionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The ${APP_NAME} application and its command-line tool."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAssoc} "Double-clicking an .ora file opens it in ${APP_NAME}."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "A ${APP_NAME} shortcut on the desktop."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

; --- uninstall --------------------------------------------------------------------------------
Function un.onInit
  SetShellVarContext current
FunctionEnd

Section "un.${APP_NAME}" UnSecApp
  SectionIn RO
  SetShellVarContext current

  ; Only what the installer put there: never RMDir /r $INSTDIR, which the user may have pointed
  ; at a folder holding other things.
!ifdef UNINSTALL_LIST
  !include "${UNINSTALL_LIST}"
!else
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  RMDir /r "$INSTDIR\_internal"
!endif
  Delete "$INSTDIR\${UNINSTALLER}"
  RMDir "$INSTDIR"

  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  Delete "$DESKTOP\${APP_NAME}.lnk"

  ; The .ora association: only undo what is still ours.
  ReadRegStr $0 HKCU "Software\Classes\.ora" ""
  ${If} $0 == "${PROGID}"
    DeleteRegValue HKCU "Software\Classes\.ora" ""
  ${EndIf}
  DeleteRegValue HKCU "Software\Classes\.ora\OpenWithProgids" "${PROGID}"
  DeleteRegKey /ifempty HKCU "Software\Classes\.ora\OpenWithProgids"
  DeleteRegKey HKCU "Software\Classes\${PROGID}"
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'

  DeleteRegKey HKCU "${REG_UNINSTALL}"
  DeleteRegKey HKCU "${REG_APP}"
SectionEnd

Section /o "un.Also remove downloaded models and the GPU runtime" UnSecData
  SetShellVarContext current
  DetailPrint "Removing $LOCALAPPDATA\${MODELS_SUBDIR}"
  RMDir /r "$LOCALAPPDATA\${MODELS_SUBDIR}"
  DetailPrint "Removing $LOCALAPPDATA\${RUNTIME_SUBDIR}"
  RMDir /r "$LOCALAPPDATA\${RUNTIME_SUBDIR}"
  ; The parent keeps settings, autosaves and logs; it goes only if nothing is left in it.
  RMDir "$LOCALAPPDATA\${APP_NAME}"
SectionEnd

!insertmacro MUI_UNFUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecApp} "The program files, shortcuts and registry entries. Your pictures and settings stay."
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecData} "Also delete the models ${APP_NAME} downloaded and the GPU runtime (torch) it installed. They are several GB; leave this off to keep them for a later install."
!insertmacro MUI_UNFUNCTION_DESCRIPTION_END
