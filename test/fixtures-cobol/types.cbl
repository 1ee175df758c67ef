      * Writes TYPES-REC records (fixed length, ORGANIZATION
      * SEQUENTIAL) to the file named by DD_TYPESFILE and DISPLAYs
      * every field it wrote ("types WRITE"), or reads that file and
      * DISPLAYs every field it read ("types READ").
       IDENTIFICATION DIVISION.
       PROGRAM-ID. TYPES.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT TYPES-FILE ASSIGN TO "TYPESFILE"
               ORGANIZATION IS SEQUENTIAL
               FILE STATUS IS WS-STATUS.
       DATA DIVISION.
       FILE SECTION.
       FD  TYPES-FILE.
       COPY "types.cpy".
       WORKING-STORAGE SECTION.
       01  WS-MODE             PIC X(5).
       01  WS-STATUS           PIC XX.
       01  WS-EOF              PIC X VALUE "N".
       01  WS-I                PIC S9(4) COMP.
       01  WS-SIGN             PIC S9 COMP.
       01  WS-ROW              PIC 99.
       PROCEDURE DIVISION.
           ACCEPT WS-MODE FROM COMMAND-LINE
           IF WS-MODE = "WRITE"
               PERFORM WRITE-ALL
           ELSE
               PERFORM READ-ALL
           END-IF
           STOP RUN.

       WRITE-ALL.
           OPEN OUTPUT TYPES-FILE
           PERFORM VARYING WS-I FROM 1 BY 1 UNTIL WS-I > 14
               PERFORM FILL-RECORD
               WRITE TYPES-REC
               PERFORM SHOW-RECORD
           END-PERFORM
           CLOSE TYPES-FILE.

       READ-ALL.
           OPEN INPUT TYPES-FILE
           IF WS-STATUS NOT = "00"
               DISPLAY "OPEN FAILED " WS-STATUS
               STOP RUN
           END-IF
           PERFORM UNTIL WS-EOF = "Y"
               READ TYPES-FILE
                   AT END MOVE "Y" TO WS-EOF
                   NOT AT END PERFORM SHOW-RECORD
               END-READ
           END-PERFORM
           CLOSE TYPES-FILE.

      * Row 1: zeros; row 2: largest values; row 3: most negative;
      * other rows: values computed from the row number, alternating
      * signs.
       FILL-RECORD.
           MOVE WS-I TO T-ID
           EVALUATE WS-I
           WHEN 1
               MOVE "ZEROS" TO T-NAME
               MOVE ZERO TO T-PACKED T-PACKED-U T-PACKED-BIG T-BIN-S
                   T-BIN-TINY
                   T-BIN T-BIN-U T-BIN-L T-BIN5 T-BIN5-U T-BIN5-L
                   T-ZONED T-ZONED-U T-ZONED-LEAD T-LEAD-SEP
                   T-TRAIL-SEP
           WHEN 2
               MOVE "MAXIMUM" TO T-NAME
               MOVE 9999999.99 TO T-PACKED
               MOVE 999999 TO T-PACKED-U
               MOVE 9999999999999999999999999.999999 TO T-PACKED-BIG
               MOVE 9999 TO T-BIN-S T-BIN-U T-BIN5-U
               MOVE 99 TO T-BIN-TINY
               MOVE 999999999 TO T-BIN T-BIN5
               MOVE 999999999999999999 TO T-BIN-L T-BIN5-L
               MOVE 99999.99 TO T-ZONED
               MOVE 99999 TO T-ZONED-U T-LEAD-SEP
               MOVE 999 TO T-ZONED-LEAD
               MOVE 999.9 TO T-TRAIL-SEP
           WHEN 3
               MOVE "MINIMUM" TO T-NAME
               MOVE -9999999.99 TO T-PACKED
               MOVE 1 TO T-PACKED-U T-BIN-U T-BIN5-U T-ZONED-U
               MOVE -9999999999999999999999999.999999 TO T-PACKED-BIG
               MOVE -9999 TO T-BIN-S
               MOVE -99 TO T-BIN-TINY
               MOVE -999999999 TO T-BIN T-BIN5
               MOVE -999999999999999999 TO T-BIN-L T-BIN5-L
               MOVE -99999.99 TO T-ZONED
               MOVE -99999 TO T-LEAD-SEP
               MOVE -999 TO T-ZONED-LEAD
               MOVE -999.9 TO T-TRAIL-SEP
           WHEN OTHER
               MOVE WS-I TO WS-ROW
               MOVE SPACES TO T-NAME
               STRING "ROW " WS-ROW DELIMITED BY SIZE INTO T-NAME
               IF FUNCTION MOD(WS-I, 2) = 0
                   MOVE 1 TO WS-SIGN
               ELSE
                   MOVE -1 TO WS-SIGN
               END-IF
               COMPUTE T-PACKED = WS-SIGN * WS-I * 123457.31
               COMPUTE T-PACKED-U = WS-I * 70001
               COMPUTE T-PACKED-BIG = WS-SIGN * WS-I
                   * 712345678901234567890.123457
               COMPUTE T-BIN-TINY = WS-SIGN * WS-I * 7
               COMPUTE T-BIN-S = WS-SIGN * WS-I * 701
               COMPUTE T-BIN = WS-SIGN * WS-I * 70000001
               COMPUTE T-BIN-U = WS-I * 699
               COMPUTE T-BIN-L = WS-SIGN * WS-I * 70000000000000001
               COMPUTE T-BIN5 = WS-SIGN * WS-I * 65537
               COMPUTE T-BIN5-U = WS-I * 257
               COMPUTE T-BIN5-L = WS-SIGN * WS-I * 4294967297
               COMPUTE T-ZONED = WS-SIGN * WS-I * 7000.01
               COMPUTE T-ZONED-U = WS-I * 7001
               COMPUTE T-ZONED-LEAD = WS-SIGN * WS-I * 70
               COMPUTE T-LEAD-SEP = WS-SIGN * WS-I * 7001
               COMPUTE T-TRAIL-SEP = WS-SIGN * WS-I * 70.1
           END-EVALUATE.

       SHOW-RECORD.
           DISPLAY "RECORD"
           DISPLAY "T-ID=" T-ID
           DISPLAY "T-NAME=" T-NAME
           DISPLAY "T-PACKED=" T-PACKED
           DISPLAY "T-PACKED-U=" T-PACKED-U
           DISPLAY "T-PACKED-BIG=" T-PACKED-BIG
           DISPLAY "T-BIN-TINY=" T-BIN-TINY
           DISPLAY "T-BIN-S=" T-BIN-S
           DISPLAY "T-BIN=" T-BIN
           DISPLAY "T-BIN-U=" T-BIN-U
           DISPLAY "T-BIN-L=" T-BIN-L
           DISPLAY "T-BIN5=" T-BIN5
           DISPLAY "T-BIN5-U=" T-BIN5-U
           DISPLAY "T-BIN5-L=" T-BIN5-L
           DISPLAY "T-ZONED=" T-ZONED
           DISPLAY "T-ZONED-U=" T-ZONED-U
           DISPLAY "T-ZONED-LEAD=" T-ZONED-LEAD
           DISPLAY "T-LEAD-SEP=" T-LEAD-SEP
           DISPLAY "T-TRAIL-SEP=" T-TRAIL-SEP.
