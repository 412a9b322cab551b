; Tags for Rust. Capture convention: see python-tags.scm.
; An `impl` block is a @scope named after its type, so its functions are "Type.method";
; `use a::b::{C, d}` is an import of module "a::b" with names C and d.

(struct_item name: (type_identifier) @name.definition.struct) @definition.struct

(enum_item name: (type_identifier) @name.definition.enum) @definition.enum

(union_item name: (type_identifier) @name.definition.union) @definition.union

(type_item name: (type_identifier) @name.definition.type) @definition.type

(trait_item name: (type_identifier) @name.definition.trait) @definition.trait

(mod_item name: (identifier) @name.definition.module) @definition.module

(macro_definition name: (identifier) @name.definition.macro) @definition.macro

(function_item name: (identifier) @name.definition.function) @definition.function

(function_signature_item name: (identifier) @name.definition.function) @definition.function

(const_item name: (identifier) @name.definition.constant) @definition.constant

(static_item name: (identifier) @name.definition.constant) @definition.constant

(impl_item
  type: [
    (type_identifier) @name.scope
    (generic_type type: (type_identifier) @name.scope)
    (scoped_type_identifier name: (type_identifier) @name.scope)
  ]) @scope

(impl_item
  trait: [
    (type_identifier) @name.reference.implementation
    (generic_type type: (type_identifier) @name.reference.implementation)
    (scoped_type_identifier name: (type_identifier) @name.reference.implementation)
  ])

(call_expression
  function: [
    (identifier) @name.reference.call
    (field_expression field: (field_identifier) @name.reference.call)
    (scoped_identifier name: (identifier) @name.reference.call)
    (generic_function function: (identifier) @name.reference.call)
  ])

(macro_invocation macro: (identifier) @name.reference.call)

(struct_expression
  name: [
    (type_identifier) @name.reference.class
    (scoped_type_identifier name: (type_identifier) @name.reference.class)
  ])

(type_identifier) @name.reference.type

(use_declaration
  argument: [
    (identifier) @import.module
    (scoped_identifier path: (_) @import.module name: (identifier) @import.name)
    (scoped_use_list path: (_) @import.module
      list: (use_list [(identifier) (self)] @import.name))
    (scoped_use_list path: (_) @import.module
      list: (use_list (scoped_identifier) @import.name))
    (use_as_clause path: (scoped_identifier path: (_) @import.module name: (identifier) @import.name))
    (use_as_clause path: (identifier) @import.module)
    (use_wildcard (scoped_identifier) @import.module)
    (use_wildcard (identifier) @import.module)
  ]) @import

(mod_item name: (identifier) @import.module !body) @import
