; Tags for JavaScript (also read for JSX). Capture convention: see python-tags.scm.
; `const f = () => ...` and `const f = function () {}` are functions; CommonJS `require("m")` is an import.

(class_declaration
  name: (identifier) @name.definition.class) @definition.class

(class
  name: (identifier) @name.definition.class) @definition.class

(method_definition
  name: [(property_identifier) (private_property_identifier)] @name.definition.method) @definition.method

(function_declaration
  name: (identifier) @name.definition.function) @definition.function

(generator_function_declaration
  name: (identifier) @name.definition.function) @definition.function

(variable_declarator
  name: (identifier) @name.definition.function
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function

(program
  (lexical_declaration
    (variable_declarator
      name: (identifier) @name.definition.constant
      value: [(object) (array) (string) (number) (template_string) (new_expression) (call_expression)])
      @definition.constant))

(program
  (export_statement
    (lexical_declaration
      (variable_declarator
        name: (identifier) @name.definition.constant
        value: [(object) (array) (string) (number) (template_string) (new_expression) (call_expression)])
        @definition.constant)))

(call_expression
  function: (identifier) @name.reference.call
  (#not-eq? @name.reference.call "require"))

(call_expression
  function: (member_expression
    property: (property_identifier) @name.reference.call))

(new_expression
  constructor: [
    (identifier) @name.reference.class
    (member_expression property: (property_identifier) @name.reference.class)
  ])

(class_heritage (identifier) @name.reference.class)

(import_statement
  (import_clause
    [
      (identifier) @import.name
      (named_imports (import_specifier name: (identifier) @import.name))
      (namespace_import (identifier) @import.name)
    ])?
  source: (string (string_fragment) @import.module)) @import

(lexical_declaration
  (variable_declarator
    value: (call_expression
      function: (identifier) @_require
      arguments: (arguments (string (string_fragment) @import.module))))
  (#eq? @_require "require")) @import

(lexical_declaration
  (variable_declarator
    name: (object_pattern (shorthand_property_identifier_pattern) @import.name)
    value: (call_expression function: (identifier) @_require))
  (#eq? @_require "require"))
