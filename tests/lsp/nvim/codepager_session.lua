-- Neovim as a real LSP client of codepager: open a file of a sample repository, ask for inline
-- completion and completion, run explain; any error ends Neovim with a non-zero status.
-- Usage: nvim --headless --clean -l codepager_session.lua REPO FILE PYTHON MODEL RESULT_JSON
local repo, file, python, model, result_path = unpack(_G.arg)
local results = {}

local function finish(ok, message)
  results.ok = ok
  results.message = message
  local out = io.open(result_path, "w")
  out:write(vim.json.encode(results))
  out:close()
  if ok then vim.cmd("qall!") else vim.cmd("cquit 1") end
end

local function check(condition, message)
  if not condition then finish(false, message) end
end

local ok, err = pcall(function()
  vim.cmd.edit(repo .. "/" .. file)
  local bufnr = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start({
    name = "codepager",
    cmd = { python, "-m", "codepager.lsp", "--log-level", "WARNING" },
    root_dir = repo,
    init_options = { codepager = { modelPath = model, maxTokens = 4, debounceMs = 0 } },
  }, { bufnr = bufnr })
  check(client_id ~= nil, "vim.lsp.start returned no client")
  local client = vim.lsp.get_client_by_id(client_id)
  check(vim.wait(60000, function() return client.initialized end, 50), "the server never initialized")
  results.inline_provider = client.server_capabilities.inlineCompletionProvider ~= nil

  local function request(method, params)
    local response, request_err = client:request_sync(method, params, 120000, bufnr)
    check(response ~= nil, method .. " failed: " .. tostring(request_err))
    check(response.err == nil, method .. " returned an error: " .. vim.inspect(response.err))
    return response.result
  end

  local ready = vim.wait(120000, function()
    local status = request("codepager/status", {})
    return status.state == "ready" or status.state == "failed"
  end, 100)
  check(ready, "the server never became ready")
  local status = request("codepager/status", {})
  check(status.state == "ready", "server start-up failed: " .. tostring(status.message))
  results.position_encoding = client.offset_encoding

  local uri = vim.uri_from_bufnr(bufnr)
  local position = { line = 16, character = 8 }
  local inline = request("textDocument/inlineCompletion", {
    textDocument = { uri = uri }, position = position, context = { triggerKind = 1 } })
  check(type(inline.items) == "table" and #inline.items == 1, "no inline completion item")
  results.inline_text = inline.items[1].insertText

  local completion = request("textDocument/completion", { textDocument = { uri = uri }, position = position })
  check(#completion.items == 1 and completion.items[1].textEdit ~= nil, "no completion item with a textEdit")
  results.completion_label = completion.items[1].label

  local explain = request("workspace/executeCommand", {
    command = "codepager.explain",
    arguments = { { textDocument = { uri = uri }, range = { start = { line = 4, character = 24 },
                                                             ["end"] = { line = 4, character = 24 } } } },
  })
  check(type(explain.markdown) == "string" and explain.markdown:find("shop/money.py", 1, true) ~= nil,
        "explain did not name the definition: " .. vim.inspect(explain))
  results.explain = explain.markdown

  client:stop()
  vim.wait(10000, function() return client:is_stopped() end, 50)
  finish(true, "ok")
end)
if not ok then finish(false, tostring(err)) end
