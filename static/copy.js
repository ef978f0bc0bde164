// Copy buttons for the learn pages' commands. Each <pre data-copy> gets a
// button that puts its text on the clipboard. Without this script (or
// without a clipboard) the command is still there as selectable text.
// The page's Content-Security-Policy runs scripts only from this site's
// own files, so this file is all the script the app has.
"use strict";
for (const pre of document.querySelectorAll("pre[data-copy]")) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button secondary copy";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy the text above");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(pre.innerText);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select the text to copy it";
    }
  });
  pre.after(button);
}
