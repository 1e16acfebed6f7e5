//! The numbered diagnostic catalogue.
//!
//! Codes are stable: a code is never reused for a different error, and a
//! retired code stays reserved. `docs/idl-errors.md` describes each one, and
//! `idlc/tests/diagnostics/idl-NNNN.idl` is a failing input for each (the
//! test suite checks that both exist for every code listed here).

macro_rules! error_codes {
    ($( $variant:ident = $number:literal, $title:literal; )*) => {
        /// A diagnostic's stable identity.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $variant, )*
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            pub fn number(self) -> u16 {
                match self { $( ErrorCode::$variant => $number, )* }
            }

            /// A short, fixed description of the error class.
            pub fn title(self) -> &'static str {
                match self { $( ErrorCode::$variant => $title, )* }
            }
        }
    };
}

error_codes! {
    Syntax = 1, "syntax error";
    InvalidStringEscape = 2, "invalid escape sequence in a string literal";
    NestingTooDeep = 3, "the source nests too deeply";
    InvalidLibraryName = 4, "invalid library name";
    DuplicateDeclaration = 5, "a name is declared twice";
    CaseInsensitiveCollision = 6, "names collide when compared case-insensitively";
    UndefinedName = 7, "a name is not defined";
    UnknownLibrary = 8, "a `using` names a library that is not available";
    UnusedUsing = 9, "a `using` is never used";
    DuplicateUsing = 10, "a library is imported twice";
    LibraryCycle = 11, "libraries import each other in a cycle";
    DuplicateModifier = 12, "a modifier is repeated";
    InvalidModifier = 13, "a modifier is not allowed here";
    ConflictingModifiers = 14, "modifiers contradict each other";
    DuplicateMemberName = 15, "a member name is used twice";
    DuplicateOrdinal = 16, "an ordinal is used twice";
    InvalidOrdinal = 17, "an ordinal is out of range";
    MustHaveMembers = 18, "a layout must have at least one member";
    InvalidUnderlyingType = 19, "invalid underlying type for an enum or bits";
    ValueOutOfRange = 20, "a constant does not fit its type";
    BitsMemberNotPowerOfTwo = 21, "a bits member is not a power of two";
    DuplicateMemberValue = 22, "two enum or bits members have the same value";
    ConstantTypeMismatch = 23, "a constant has the wrong type";
    ConstantCycle = 24, "constants refer to each other in a cycle";
    InvalidConstantType = 25, "a constant cannot have this type";
    NotAType = 26, "a name that is not a type is used as a type";
    NotAConstant = 27, "a name that is not a constant is used as a value";
    WrongLayoutParameters = 28, "wrong number or kind of layout parameters";
    TooManyConstraints = 29, "too many constraints";
    InvalidConstraint = 30, "a constraint is not valid for this type";
    CannotBeOptional = 31, "this type cannot be optional";
    InvalidSizeBound = 32, "a size bound must be a positive integer";
    InvalidHandleSubtype = 33, "unknown handle subtype";
    InvalidHandleRights = 34, "invalid handle rights";
    ResourceInValueType = 35, "a value type contains a resource type";
    RecursiveType = 36, "a type contains itself without indirection";
    InvalidBoxedType = 37, "only structs can be boxed";
    DuplicateAttribute = 38, "an attribute is repeated";
    MissingAttributeArgument = 39, "an attribute argument is missing";
    InvalidAttributeArgument = 40, "an attribute argument is invalid";
    InvalidAvailability = 41, "invalid `@available` versions";
    AttributeNotAllowedHere = 42, "an attribute is placed on the wrong element";
    MethodOrdinalCollision = 43, "two methods have the same ordinal";
    ComposeNotProtocol = 44, "`compose` names something that is not a protocol";
    ComposeCycle = 45, "protocols compose each other in a cycle";
    FlexibleMethodNotAllowed = 46, "a flexible method in a protocol that cannot handle unknown methods";
    InvalidErrorType = 47, "an error type must be int32, uint32, or an enum of them";
    InvalidPayloadType = 48, "a method payload must be a struct, table or union";
    EmptyPayloadStruct = 49, "an empty struct payload must be written `()`";
    EndpointNotProtocol = 50, "`client_end` / `server_end` need a protocol";
    TypeDeclarationNotLayout = 51, "a type declaration must define a layout";
    NameCollisionOfAnonymousLayout = 52, "an anonymous layout's generated name collides";
    InvalidTransport = 53, "unknown `@transport`";
    StringTooLong = 54, "a string constant exceeds its bound";
    ServiceMemberNotEndpoint = 55, "a service member must be a client end";
    InvalidNumber = 56, "a number literal is invalid";
    OptionalMemberNotAllowed = 57, "table and union members cannot be optional";
    InvalidSelector = 58, "invalid `@selector`";
    InvalidDefaultValue = 59, "a default value does not suit the member";
    ProtocolMemberNotAllowed = 60, "a method shape is not allowed in this protocol";
    WrongMemberSyntax = 61, "a member is written in the syntax of another layout";
    AnonymousLayoutNotAllowed = 62, "an anonymous layout is not allowed here";
    ReplacedWithoutReplacement = 63, "a `replaced` element has no replacement";
    RemovedWithReplacement = 64, "a `removed` element has a replacement";
    ComposedProtocolTooOpen = 65, "a protocol composes one that is more open than itself";
}

impl ErrorCode {
    /// `idl-0007`.
    pub fn code(self) -> String {
        format!("idl-{:04}", self.number())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "idl-{:04}", self.number())
    }
}
